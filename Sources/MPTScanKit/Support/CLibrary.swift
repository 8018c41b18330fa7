/// `memmem(3)`: glibc declares it only under `_GNU_SOURCE`, which the Glibc module does not set, so it is
/// declared here by symbol name. Same signature on glibc, musl and Darwin.
@_silgen_name("memmem")
func memmem(_ haystack: UnsafeRawPointer, _ haystackLength: Int, _ needle: UnsafeRawPointer?, _ needleLength: Int) -> UnsafeMutableRawPointer?
