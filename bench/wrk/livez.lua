-- GET /livez (static request, no per-request Lua); only adds the JSON summary.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
