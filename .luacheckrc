-- luacheck configuration (Debian's lua-check): lua/ and examples/ are Lua 5.4 with the one
-- global gt; a to-be-closed lock held for its scope is named lk and never read.
std = "lua54"
read_globals = { "gt" }
max_line_length = 120
ignore = { "211/lk" }
files["tests/"] = { std = "+busted", globals = { "arg" } }
exclude_files = { "lua/gt/_meta/" } -- type stubs: functions with no bodies
