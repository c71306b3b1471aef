--- Built-in command: gt init.
local output = require("gt.output")
local town = require("gt.town")
local trust = require("gt.trust")
local store = require("gt.store")

return {
  {
    name = "init",
    summary = "Create a town: the folder that holds rigs and the ledger.",
    description = "Create a town in DIR (default: $GT_TOWN, else ~/gt). Running it on an existing " ..
      "town changes nothing. Its ledger is a sqlite file in the town, or with --ledger (or " ..
      "$GT_LEDGER) a PostgreSQL database that the towns of several hosts share; libpq's " ..
      "environment (PGHOST, PGPASSFILE, PGSSLMODE, ...) applies.",
    arguments = { { "dir", "Folder of the town.", args = "?" } },
    options = { { "--ledger", "Keep the ledger on this PostgreSQL server (postgresql://...).",
      argname = "<url>" } },
    flags = { { "--json", "Print JSON." } },
    run = function(cmd)
      local dir = cmd.args.dir or town.default_root()
      local t, existed = town.init(dir, { ledger = cmd.args.ledger })
      if not existed and t.config.ledger and store.has_password(t.config.ledger) then
        output.warn("%s/.gt/town.lua holds the ledger's password: ~/.pgpass (mode 0600) would keep it " ..
          "out of the town", t.root)
      end
      if existed and cmd.args.ledger then
        output.warn("the town exists: its ledger stays %s (gt ledger migrate --to URL moves it)",
          store.describe(t:ledger_target()))
      end
      if cmd.args.json then
        output.json({ path = t.root, existed = existed, owned = trust.owns(t.root),
          ledger = store.describe(t:ledger_target()) })
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
