#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's read(2), write(2) and close(2) under names that types with their own `write`/`close` methods (output
// streams, child processes, state files) can call without shadowing. One declaration for the whole module.
#if canImport(Glibc)
let systemRead = Glibc.read
let systemWrite = Glibc.write
let systemClose = Glibc.close
#elseif canImport(Darwin)
let systemRead = Darwin.read
let systemWrite = Darwin.write
let systemClose = Darwin.close
#endif
