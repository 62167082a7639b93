// SBRedis: hiredis on SBEventLoop (in progress).
