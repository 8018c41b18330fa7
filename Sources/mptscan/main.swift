import MPTScanKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

exit(MPTScan.main(Array(CommandLine.arguments.dropFirst())))
