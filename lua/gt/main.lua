--- gt.main: the entry point. C calls the function this module returns with gt's arguments and
--- exits with the status it returns; errors are reported by C (gt: <message>).
--
--   gt -l FILE [ARGS...]   runs a Lua file in gt's runtime (arg[0] = FILE, arg[1..] = ARGS)
--   gt COMMAND ...         runs a command (gt help lists them)
local errors = require("gt.errors")
local startup = require("gt.startup")

-- `gt.<module>` loads gt.<module> on first use, so gt.git, gt.ledger, gt.polecat... are
-- one word away in scripts and in the REPL without loading what a command does not need. Only
-- gt's own top-level modules (gt._modules(): gt.fs, gt.polecat, not gt.commands.polecat) are
-- loaded this way, through require and so package.searchers (a user's override of one is
-- honoured); require's error is raised, so a module that fails to load says why. Any other
-- key is nil, with nothing loaded.
local lazy_modules -- set of names, made on first use
setmetatable(gt, {
  __index = function(t, key)
    if not lazy_modules then
      lazy_modules = {}
      for _, name in ipairs(gt._modules()) do
        local sub = name:match("^gt%.([%a_][%w_]*)$")
        if sub then lazy_modules[sub] = true end
      end
    end
    if not lazy_modules[key] then return nil end
    local mod = require("gt." .. key)
    rawset(t, key, mod)
    return mod
  end,
})

-- The error C raises when gt is interrupted (src/main.c, lstop): a user error, so that it is
-- reported as "gt: interrupted" without a traceback, with exit status 130.
rawset(gt, "_interrupted", function()
  return errors.new("interrupted", "interrupted")
end)

--- Runs the Lua file `file` with `args` as in `lua file args...`.
local function run_file(file, ...)
  if not file then
    error(errors.new("usage", "-l needs a file to run"), 0)
  end
  local args = table.pack(...)
  _G.arg = { [-1] = gt.executable, [0] = file }
  for i = 1, args.n do _G.arg[i] = args[i] end
  local chunk, err = loadfile(file, "t")
  if not chunk then
    -- loadfile names the file in other errors, but not when it refuses bytecode.
    if err:find("binary chunk", 1, true) then err = file .. ": " .. err end
    err = errors.full_path(err, file)
    error(errors.new("failure", "%s", err), 0)
  end
  local status = chunk(...)
  return math.type(status) == "integer" and status or 0
end

return function(...)
  if select(1, ...) == "-l" then return run_file(select(2, ...)) end
  local argv = { ... }
  startup.run(startup.prescan(argv))
  -- Required only now: the command layer is what a user's module overrides may replace, and
  -- startup.run has just put their searcher in place.
  return require("gt.cli").run(argv)
end
