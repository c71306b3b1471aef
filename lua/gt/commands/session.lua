--- Built-in commands: gt polecat run|logs|stop, a command run in a polecat's worktree (a
--- session, gt.session). They parse, call gt.session, and print.
local output = require("gt.output")
local errors = require("gt.errors")

-- The lifecycle is required where a command runs (gt.commands loads every command module).
local function lifecycle()
  return require("gt.session")
end

local null = require("dkjson").null

return {
  {
    name = "polecat run",
    summary = "Run a command in a polecat's worktree, in the foreground or detached.",
    description = "Run COMMAND (a program and its arguments, without a shell) in the polecat's " ..
      "worktree, with GT_TOWN, GT_RIG, GT_POLECAT, GT_BRANCH and GT_ISSUE set. gt's options " ..
      "come before COMMAND; every word from COMMAND's first on (or after --) is COMMAND's. In " ..
      "the foreground it uses gt's terminal and gt exits with its status (128 + the signal " ..
      "that killed it); signals sent to gt are passed on to it. With --detach it runs in a " ..
      "session and process group of its own, its output appended to <rig>/.gt/logs/NAME.log, " ..
      "and gt prints its pid and returns. The session is recorded in the ledger; a polecat " ..
      "runs one at a time, and only while it is working or idle.",
    arguments = { { "words", "NAME [-d] [--json] [--] COMMAND [ARGS...]", args = "*" } },
    flags = { { "-d --detach", "Run it in the background, output to the polecat's log." },
      { "--json", "With --detach: print JSON." } },
    raw = true,
    needs = "rig",
    run = function(cmd)
      local session = lifecycle()
      local words, i = cmd.args.words, 1
      local args, name = {}, nil
      -- gt's flags, before and after NAME, up to COMMAND's first word (or --).
      while words[i] do
        local w = words[i]
        if w == "--" then i = i + 1; break end
        if w == "-d" or w == "--detach" then args.detach = true
        elseif w == "--json" then args.json = true
        elseif w == "-h" or w == "--help" then
          local _, nodes = require("gt.cli").build("polecat")
          io.stdout:write(nodes["polecat run"]:get_help(), "\n")
          return 0
        elseif w:sub(1, 1) == "-" then
          errors.raise("usage", "unknown option %s (gt's options come before the command; put " ..
            "the command after --)", errors.quote(w))
        elseif not name then name = w
        else break end
        i = i + 1
      end
      local argv = { table.unpack(words, i) }
      if not name then errors.raise("usage", "missing the polecat's name (gt polecat run NAME -- COMMAND)") end
      if #argv == 0 then errors.raise("usage", "missing the command to run (gt polecat run NAME -- COMMAND)") end
      if args.json and not args.detach then
        errors.raise("usage", "--json only goes with --detach (a foreground command prints its own output)")
      end
      if not args.detach then
        return session.run(cmd.rig, name, argv)
      end
      local s = session.start(cmd.rig, name, argv)
      if args.json then
        output.json({ name = name, rig = cmd.rig.name, pid = s.pid, log = s.log, command = s.command })
      else
        output.say("%d", s.pid)
        output.note("session of polecat %s started (pid %d); its output goes to %s", name, s.pid, s.log)
      end
      return 0
    end,
  },
  {
    name = "polecat logs",
    summary = "Print the log of a polecat's detached sessions (-f: follow it).",
    description = "Print <rig>/.gt/logs/NAME.log, the output of the polecat's detached " ..
      "sessions. With -f, go on printing what is appended until the running session ends " ..
      "(or Ctrl-C).",
    arguments = { { "name", "Name of the polecat." } },
    flags = { { "-f --follow", "Follow the log until the session ends." } },
    needs = "rig",
    run = function(cmd)
      local session = lifecycle()
      session.logs(cmd.rig, cmd.args.name, function(chunk)
        io.stdout:write(chunk)
        io.stdout:flush()
      end, cmd.args.follow)
      return 0
    end,
  },
  {
    name = "polecat stop",
    summary = "Stop a polecat's running session: SIGTERM, then SIGKILL after a timeout.",
    description = "Send SIGTERM to the running session of the polecat (a detached session's " ..
      "whole process group), wait up to --timeout seconds (default 10) for it to end, then " ..
      "send SIGKILL. Exits 1 when no session runs.",
    arguments = { { "name", "Name of the polecat." } },
    options = { { "--timeout", "Seconds to wait after SIGTERM before SIGKILL (default 10).",
      argname = "<s>" } },
    flags = { { "--json", "Print JSON." } },
    needs = "rig",
    run = function(cmd)
      local session = lifecycle()
      local timeout_ms
      if cmd.args.timeout then
        local s = tonumber(cmd.args.timeout)
        if not s or s < 0 or s ~= s or s == math.huge then
          errors.raise("usage", "--timeout needs a number of seconds, got %s", errors.quote(cmd.args.timeout))
        end
        timeout_ms = math.floor(s * 1000)
      end
      local r = session.stop(cmd.rig, cmd.args.name, timeout_ms)
      if cmd.args.json then
        output.json({ name = cmd.args.name, pid = r.pid, signal = r.signal == 9 and "KILL" or "TERM",
          session = { state = r.info.state, exit_status = r.info.exit_status or null } })
      else
        output.say("stopped the session of polecat %s (pid %d, SIG%s): %s", cmd.args.name, r.pid,
          r.signal == 9 and "KILL" or "TERM", session.describe(r.info))
      end
      return 0
    end,
  },
}
