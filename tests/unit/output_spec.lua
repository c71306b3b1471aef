-- gt.output: tables, short lists and ages computed in-process; what reaches stdout and stderr
-- (say, warn, note, verbose, json, colours) read from child gt processes, on pipes and, through
-- script(1), on a terminal.
local output = require("gt.output")
local proc = require("gt.proc")
local helpers = require("helpers")

--- Without ANSI colour sequences (a title is bold when the specs run on a terminal).
local function plain(s)
  return (s:gsub("\27%[[%d;]*m", ""))
end

--- The lines of output.table, the title line without colour.
local function render(columns, rows)
  local lines = output.table(columns, rows)
  lines[1] = plain(lines[1])
  return lines
end

describe("gt.output", function()
  describe("table", function()
    local COLUMNS = { { "name", "NAME" }, { "state", "STATE" }, { "branch", "BRANCH" } }

    it("aligns each column to its widest cell or title, two spaces apart", function()
      assert.same({
        "NAME      STATE    BRANCH",
        "a         working  polecat/a-x1",
        "longname  idle     b",
      }, render(COLUMNS, {
        { name = "a", state = "working", branch = "polecat/a-x1" },
        { name = "longname", state = "idle", branch = "b" },
      }))
    end)

    it("does not pad the last column, nor leave blanks when its cell is empty", function()
      local lines = render(COLUMNS, {
        { name = "a", state = "working", branch = "" },
        { name = "bb", state = "", branch = "x" },
        { name = "c" }, -- missing cells are empty
      })
      assert.same({
        "NAME  STATE    BRANCH",
        "a     working",
        "bb             x",
        "c",
      }, lines)
      for _, l in ipairs(lines) do assert.is_nil(l:find(" $"), l) end
    end)

    it("shows number cells with tostring", function()
      assert.same({ "N   SIZE", "12  1.5", "3   0" },
        render({ { "n", "N" }, { "size", "SIZE" } }, { { n = 12, size = 1.5 }, { n = 3, size = 0 } }))
    end)

    it("gives only the titles when there are no rows", function()
      assert.same({ "NAME  STATE  BRANCH" }, render(COLUMNS, {}))
    end)

    it("pads nothing in a table of one column", function()
      assert.same({ "X", "long value", "v" }, render({ { "x", "X" } }, { { x = "long value" }, { x = "v" } }))
    end)

    it("pads cells with multi-byte characters by characters, not bytes", function()
      local lines = render({ { "name", "NAME" }, { "who", "WHO" }, { "n", "N" } }, {
        { name = "café", who = "Zoë", n = "1" },
        { name = "tea", who = "Ånström", n = "2" },
        { name = "ü", who = "x", n = "3" },
      })
      assert.same({
        "NAME  WHO      N",
        "café  Zoë      1",
        "tea   Ånström  2",
        "ü     x        3",
      }, lines)
      for _, l in ipairs(lines) do
        assert.equal(16, utf8.len(l), l)
      end
    end)

    it("counts a multi-byte title by characters too", function()
      assert.same({ "ÉTAT  X", "a     1", "long  2" },
        render({ { "s", "ÉTAT" }, { "x", "X" } }, { { s = "a", x = "1" }, { s = "long", x = "2" } }))
    end)

    it("aligns a column wider than 99 characters", function()
      local long = "feature/" .. string.rep("b", 100)
      local ok, lines = pcall(render, { { "name", "RIG" }, { "branch", "BRANCH" }, { "url", "URL" } },
        { { name = "demo", branch = long, url = "/o.git" }, { name = "x", branch = "main", url = "/p.git" } })
      assert(ok, lines)
      assert.same({
        "RIG   BRANCH" .. string.rep(" ", #long - 6 + 2) .. "URL",
        "demo  " .. long .. "  /o.git",
        "x     main" .. string.rep(" ", #long - 4 + 2) .. "/p.git",
      }, lines)
    end)
  end)

  describe("some", function()
    it("joins up to `max` items and counts the rest", function()
      assert.equal("", output.some({}, 3))
      assert.equal("a", output.some({ "a" }, 3))
      assert.equal("a, b, c", output.some({ "a", "b", "c" }, 3))
      assert.equal("a, b, c, and 1 more", output.some({ "a", "b", "c", "d" }, 3))
      assert.equal("a, and 4 more", output.some({ "a", "b", "c", "d", "e" }, 1))
    end)
  end)

  describe("age", function()
    it("says seconds, minutes, hours or days, rounded down", function()
      local cases = {
        { 0, "0s" }, { 999, "0s" }, { 1000, "1s" }, { 59999, "59s" },
        { 60000, "1m" }, { 3599999, "59m" },
        { 3600000, "1h" }, { 86399999, "23h" },
        { 86400000, "1d" }, { 30 * 86400000 + 5, "30d" },
      }
      for _, c in ipairs(cases) do
        assert.equal(c[2], output.age(c[1]), c[1] .. " ms")
      end
    end)
  end)

  describe("in a child process", function()
    local dir

    before_each(function()
      dir = helpers.tmpdir("output")
    end)

    --- Runs Lua `source` in `gt -l`; returns code, stdout, stderr.
    local function run(source, env)
      local script = dir .. "/s.lua"
      helpers.write(script, "local output = require('gt.output')\n" .. source)
      return helpers.gt({ "-l", script }, { env = env })
    end

    --- Runs Lua `source` with stdout and stderr on one pipe; returns what arrived, in order.
    local function run_combined(source)
      local script = dir .. "/s.lua"
      helpers.write(script, "local output = require('gt.output')\n" .. source)
      local r = helpers.run({ "sh", "-c", '"$0" -l "$1" 2>&1', gt.executable, script })
      assert.equal(0, r.code, r.stdout)
      return r.stdout
    end

    --- Runs Lua `source` on a terminal made by script(1), with `env`; returns what the
    --- terminal showed, its CRLF line ends made LF. `redirect` is appended to the command.
    local function run_tty(source, env, redirect)
      if not proc.which("script") then pending("script(1) is not installed") end
      local script = dir .. "/s.lua"
      helpers.write(script, "local output = require('gt.output')\n" .. source)
      local cmd = ("'%s' -l '%s'%s"):format(gt.executable, script, redirect or "")
      local r = helpers.run({ "script", "-qec", cmd, "/dev/null" }, { env = env })
      assert.equal(0, r.code, r.stdout .. r.stderr)
      return (r.stdout:gsub("\r\n", "\n"))
    end

    it("listing prints JSON, the line for none, or a table of the cells", function()
      local code, out, err = run([[
        local cols = { { "name", "NAME" }, { "n", "N" } }
        local rows = { { name = "a", n = 1 }, { name = "bb", n = 22 } }
        output.listing(rows, { columns = cols })
        output.listing(rows, { columns = cols, cells = function(r) return { name = r.name:upper(), n = r.n * 2 } end })
        output.listing({}, { columns = cols, none = "no rows" })
        output.listing(rows, { json = true, columns = cols, none = "no rows" })
        output.listing({}, { json = true, columns = cols, none = "no rows" })
      ]], { NO_COLOR = "1" })
      assert.equal(0, code, err)
      assert.equal("NAME  N\na     1\nbb    22\n" .. "NAME  N\nA     2\nBB    44\n" .. "no rows\n" ..
        '[{"n":1,"name":"a"},{"n":22,"name":"bb"}]\n' .. "[]\n", out:gsub('"name":"(%w+)","n":(%d+)', '"n":%2,"name":"%1"'))
      assert.equal("", err)
    end)

    it("event_cells makes one row of a ledger event: time, kind, plain data sorted", function()
      local code, out, err = run([[
        local cells = output.event_cells({ at = 86400000 + 3661000, kind = "spawned",
          data = { branch = "polecat/a-x", start = "abc", nested = { 1 } } })
        print(cells.at, cells.kind, cells.data)
        output.listing({ { at = 0, kind = "k", data = {} } }, { columns = output.EVENT_COLUMNS,
          cells = output.event_cells })
      ]], { NO_COLOR = "1", TZ = "UTC" })
      assert.equal(0, code, err)
      assert.equal("1970-01-02 01:01:01\tspawned\tbranch=polecat/a-x start=abc\n" ..
        "AT                   EVENT  DATA\n1970-01-01 00:00:00  k\n", out)
    end)

    it("say prints a line on stdout, formatting only when given arguments", function()
      local code, out, err = run([[
        output.say("plain 100%")
        output.say("%d of %s", 3, "x")
        output.say("")
      ]])
      assert.equal(0, code, err)
      assert.equal("plain 100%\n3 of x\n\n", out)
      assert.equal("", err)
    end)

    it("warn prints gt: warning: on stderr, note prints the line as it is", function()
      local code, out, err = run([[
        output.warn("disk %d%% full", 90)
        output.warn("raw 5%")
        output.note("gt: fetched %s", "origin")
        output.note("as is 7%")
      ]])
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("gt: warning: disk 90% full\ngt: warning: raw 5%\ngt: fetched origin\nas is 7%\n", err)
    end)

    it("warn and note come after what was said before them, on one pipe", function()
      assert.equal("one\ngt: warning: two\nthree\nfour\nfive\n", run_combined([[
        output.say("one")
        output.warn("two")
        output.say("three")
        output.note("four")
        output.say("five")
      ]]))
    end)

    it("verbose prints only when is_verbose is set", function()
      local code, out, err = run([[
        output.verbose("hidden %d", 1)
        output.is_verbose = true
        output.verbose("shown %d", 2)
        output.verbose("raw %")
      ]])
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("gt: shown 2\ngt: raw %\n", err)
    end)

    it("json writes one document and a newline on stdout, nothing on stderr", function()
      local code, out, err = run([[
        output.json({ name = "a\"b\n" })
        output.json(require("gt.json").array({}))
        output.json({ 1, "two", true })
      ]])
      assert.equal(0, code, err)
      assert.equal('{"name":"a\\"b\\n"}\n[]\n[1,"two",true]\n', out)
      assert.equal("", err)
    end)

    it("print_table prints the table's lines on stdout", function()
      local code, out, err = run([[
        output.print_table({ { "a", "A" }, { "b", "B" } }, { { a = "xx", b = "y" } })
      ]])
      assert.equal(0, code, err)
      assert.equal("A   B\nxx  y\n", out)
      assert.equal("", err)
    end)

    it("uses no colour on pipes, even without NO_COLOR", function()
      local code, out, err = run([[
        io.write(output.color("red", "r"), output.color("bold", "b", "stderr"), "\n")
        output.warn("w")
        output.print_table({ { "a", "TITLE" } }, {})
      ]], { NO_COLOR = false })
      assert.equal(0, code, err)
      assert.equal("rb\nTITLE\n", out)
      assert.equal("gt: warning: w\n", err)
    end)

    it("colours on a terminal, each colour its own code", function()
      local shown = run_tty([[
        local names = { "bold", "dim", "red", "green", "yellow", "cyan" }
        for _, n in ipairs(names) do io.write(output.color(n, n), " ") end
        io.write("\n")
        output.warn("careful")
        output.print_table({ { "a", "A" }, { "b", "B" } }, { { a = "x", b = "y" } })
      ]], { NO_COLOR = false })
      assert.equal("\27[1mbold\27[0m \27[2mdim\27[0m \27[31mred\27[0m \27[32mgreen\27[0m " ..
        "\27[33myellow\27[0m \27[36mcyan\27[0m \n" ..
        "gt: \27[33mwarning\27[0m: careful\n" ..
        "\27[1mA  B\27[0m\nx  y\n", shown)
    end)

    it("honours NO_COLOR on a terminal; an empty NO_COLOR does not count", function()
      local source = [[
        io.write(output.color("red", "r"), "\n")
        output.warn("w")
      ]]
      assert.equal("r\ngt: warning: w\n", run_tty(source, { NO_COLOR = "1" }))
      assert.equal("\27[31mr\27[0m\ngt: \27[33mwarning\27[0m: w\n", run_tty(source, { NO_COLOR = "" }))
    end)

    it("asks about the stream the text goes to", function()
      local shown = run_tty([[
        io.write(output.color("red", "out"), " ", output.color("red", "err", "stderr"), "\n")
        output.warn("w")
      ]], { NO_COLOR = false }, (" > '%s/out.txt'"):format(dir))
      -- stdout went to a file, stderr to the terminal.
      assert.equal("out \27[31merr\27[0m\n", helpers.read(dir .. "/out.txt"))
      assert.equal("gt: \27[33mwarning\27[0m: w\n", shown)
    end)
  end)
end)
