--- gt.main: the entry point. C calls the function this module returns with gt's arguments and
--- exits with the status it returns; errors are reported by C (gt: <message>).
--
--   gt -l FILE [ARGS...]   runs a Lua file in gt's runtime (arg[0] = FILE, arg[1..] = ARGS)
--   gt COMMAND ...         runs a command (gt help lists them)

-- `gt.<module>` loads gt.<module> on first use, so gt.git, gt.ledger, gt.polecat... are
-- one word away in scripts and in the REPL without loading what a command does not need.
setmetatable(gt, {
  __index = function(t, key)
    if type(key) ~= "string" or not key:match("^[%a_][%w_]*$") then return nil end
    local ok, mod = pcall(require, "gt." .. key)
    if not ok then return nil end
    rawset(t, key, mod)
    return mod
  end,
})

-- The error C raises when gt is interrupted (src/main.c, lstop): a user error, so that it is
-- reported as "gt: interrupted" without a traceback, with exit status 130.
rawset(gt, "_interrupted", function()
  return require("gt.errors").new("interrupted", "interrupted")
end)

--- Runs the Lua file `file` with `args` as in `lua file args...`.
local function run_file(file, ...)
  if not file then
    error(require("gt.errors").new("usage", "-l needs a file to run"), 0)
  end
  local args = table.pack(...)
  _G.arg = { [-1] = gt.executable, [0] = file }
  for i = 1, args.n do _G.arg[i] = args[i] end
  local chunk, err = loadfile(file, "t")
  if not chunk then
    -- loadfile names the file in other errors, but not when it refuses bytecode.
    if err:find("binary chunk", 1, true) then err = file .. ": " .. err end
    err = require("gt.errors").full_path(err, file)
    error(require("gt.errors").new("failure", "%s", err), 0)
  end
  local status = chunk(...)
  return math.type(status) == "integer" and status or 0
end

return function(...)
  if select(1, ...) == "-l" then return run_file(select(2, ...)) end
  local argv = { ... }
  local startup = require("gt.startup")
  startup.run(startup.prescan(argv))
  return require("gt.cli").run(argv)
end
