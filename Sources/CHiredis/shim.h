#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
// Debian's libhiredis-dev 0.14.1: the async API whose hooks we plug into SBEventLoop.
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif
