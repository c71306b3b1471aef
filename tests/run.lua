-- Runs the busted suite inside gt:  gt -l tests/run.lua [busted options] [paths...]
-- With no paths it runs tests/unit then tests/functional. Specs get gt's real runtime (the
-- global `gt`, the built-in modules) and find the binary under test at gt.executable.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests"

-- Helpers are required as "helpers"; nothing is loaded from the current directory.
package.path = here .. "/?.lua;" .. package.path

local has_paths = false
for _, a in ipairs(arg) do
  if a:sub(1, 1) ~= "-" then has_paths = true end
end
if not has_paths then
  arg[#arg + 1] = here .. "/unit"
  arg[#arg + 1] = here .. "/functional"
end
require("busted.runner")({ standalone = false })
