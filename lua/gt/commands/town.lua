--- Built-in command: gt init.
local output = require("gt.output")
local town = require("gt.town")
local trust = require("gt.trust")

return {
  {
    name = "init",
    summary = "Create a town: the folder that holds rigs and the ledger.",
    description = "Create a town in DIR (default: $GT_TOWN, else ~/gt). Running it on an existing " ..
      "town changes nothing.",
    arguments = { { "dir", "Folder of the town.", args = "?" } },
    flags = { { "--json", "Print JSON." } },
    run = function(cmd)
      local dir = cmd.args.dir or town.default_root()
      local t, existed = town.init(dir)
      if cmd.args.json then
        output.json({ path = t.root, existed = existed, owned = trust.owns(t.root) })
      elseif existed then
        output.say("town already exists at %s", t.root)
        if not trust.owns(t.root) then
          output.note("gt: it was not made here by you, so its init files and module overrides " ..
            "do not run; if it is yours: gt trust %s", t.root)
        end
      else
        output.say("created town at %s", t.root)
        output.note("next: gt --town %s rig add NAME URL-OR-PATH", t.root)
      end
      t:close()
      return 0
    end,
  },
}
