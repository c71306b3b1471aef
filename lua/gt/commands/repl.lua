--- Built-in command: gt repl.
local town_mod = require("gt.town")

return {
  {
    name = "repl",
    summary = "A Lua REPL on the town and rig, for administration.",
    description = "Starts a Lua REPL with gt's API loaded and `town`, `rig` and `gt` bound. An " ..
      "expression prints its value; an incomplete statement continues on the next line. " ..
      ".help lists the helpers. History is kept in $XDG_STATE_HOME/gt/history. Without a " ..
      "terminal, it reads statements from stdin, prints results without prompts, and exits 1 " ..
      "if any statement failed.",
    run = function(cmd)
      local town, rig
      local ok, t = pcall(town_mod.find, cmd.args.town)
      if ok then
        town = t
        local rok, r = pcall(t.find_rig, t, cmd.args.rig)
        if rok then
          rig = r
        elseif cmd.args.rig then
          error(r, 0) -- an explicit rig that does not exist is an error
        end
      elseif cmd.args.town then
        error(t, 0)
      end
      -- Required here: every command module is loaded on each run (gt.commands), and the REPL
      -- brings the lifecycle with it.
      return require("gt.repl").run({ town = town, rig = rig })
    end,
  },
}
