// The system zlib (https://zlib.net), the one non-Foundation dependency: inflate for zip, gzip and tar.gz.
#include <zlib.h>
