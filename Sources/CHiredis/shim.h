#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
// Debian's libhiredis-dev 0.14.1: its reply reader (read.h, through hiredis.h) for the
// connections on our event loops, and its blocking context for Sentinel queries and reshard.
// The async API is not used: the hub owns its Redis sockets (SBRedis/RedisSocket.swift).
#include <hiredis/hiredis.h>
#endif
