--- Built-in commands: gt ledger status, gt ledger migrate (docs/design.md §3.7). They parse,
--- call gt.town, and print.
local output = require("gt.output")
local store = require("gt.store")

return {
  {
    name = "ledger status",
    summary = "Show where the town's ledger is, its schema version and how fast it answers.",
    description = "The backend (sqlite in the town, or a PostgreSQL server several hosts share), " ..
      "where it is (a server's URL without its password), the schema version, the median time of " ..
      "a round trip, the hosts with live polecats and the rows of each table.",
    flags = { { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      local st = cmd.town:ledger_status()
      if cmd.args.json then
        output.json(st)
        return 0
      end
      output.say("backend   %s%s", st.backend, st.server_version and (" (server " .. st.server_version .. ")") or "")
      output.say("ledger    %s", st.ledger)
      output.say("schema    version %d of %d", st.schema_version, st.schema_latest)
      output.say("latency   %.3f ms a round trip (median of 21)", st.latency_ms)
      local hosts = {}
      for h, n in pairs(st.hosts) do hosts[#hosts + 1] = ("%s (%d)"):format(h, n) end
      table.sort(hosts)
      output.say("this host %s", st.host)
      output.say("hosts     %s", #hosts > 0 and table.concat(hosts, ", ") or "none with live polecats")
      local rows = {}
      for t, n in pairs(st.counts) do rows[#rows + 1] = ("%s %d"):format(t, n) end
      table.sort(rows)
      output.say("rows      %s", table.concat(rows, ", "))
      return 0
    end,
  },
  {
    name = "ledger migrate",
    summary = "Move the town's sqlite ledger to a PostgreSQL server that several hosts can share.",
    description = "Copies every row (rigs, polecats, events, the journal, sessions) into the empty " ..
      "database --to names, in one transaction, checks that each table has the same rows and " ..
      "SHA-256 on both sides, and only then makes the town use the server (.gt/town.lua). The " ..
      "sqlite file stays as a backup, sealed: a gt that still had it open fails at its next " ..
      "write. --dry-run checks the server and counts what would be copied.",
    options = { { "--to", "The PostgreSQL database (postgresql://...).", argname = "<url>" } },
    flags = { { "--dry-run", "Check and count, change nothing." }, { "--json", "Print JSON." } },
    needs = "town",
    run = function(cmd)
      if not cmd.args.to then require("gt.errors").raise("usage", "ledger migrate needs --to URL") end
      local r = cmd.town:move_ledger(cmd.args.to, { dry_run = cmd.args.dry_run })
      if cmd.args.json then
        output.json({ from = r.from, to = r.to, dry_run = cmd.args.dry_run == true,
          tables = require("gt.json").array(r.tables) })
        return 0
      end
      local total = 0
      for _, t in ipairs(r.tables) do
        total = total + t.rows
        output.say("  %-14s %6d rows  sha256 %s", t.table, t.rows, t.digest:sub(1, 16))
      end
      if cmd.args.dry_run then
        output.say("would copy %d rows from %s to %s (dry run: nothing changed)", total, r.from, r.to)
      else
        output.say("copied %d rows from %s to %s, every table checked; the town now uses the server",
          total, r.from, r.to)
        output.note("gt: %s stays as a backup, sealed against changes", r.from)
        if store.has_password(cmd.args.to) then
          output.warn("%s/.gt/town.lua holds the ledger's password: ~/.pgpass (mode 0600) would keep " ..
            "it out of the town", cmd.town.root)
        end
      end
      return 0
    end,
  },
}
