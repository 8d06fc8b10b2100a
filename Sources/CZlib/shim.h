// The system's zlib (zlib1g-dev on Debian/Ubuntu), for deflating PNG image data.
#include <zlib.h>
