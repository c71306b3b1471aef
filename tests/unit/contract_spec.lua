-- The contract between gt's C modules and their LuaCATS stubs: every name a C module registers
-- (src/lgt_<module>.c, its luaL_Reg tables) is declared in lua/gt/_meta/<module>.lua, and every
-- function a stub declares is registered. The modules are those src/runtime.c preloads, so a new
-- C module without a stub fails here. Module functions are checked against `function M.name(`,
-- the methods of a module's userdata against `function Class:name(`; metamethods (__gc,
-- __close, __index, __tostring...) are not API. Only the registered strings are read: the C
-- functions behind them may be renamed freely.
local fs = require("gt.fs")

-- The repository root, from this file's own path, so the spec runs from any directory.
local root
do
  local source = debug.getinfo(1, "S").source
  local dir = source:match("^@(.*)/[^/]*$") or "."
  root = assert(fs.realpath(dir .. "/../.."))
end

local function read(rel)
  local f = io.open(root .. "/" .. rel, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- C source without its comments, and with the bytes of its string and character literals
--- other than letters, digits and "_" written \xNN: braces and parentheses in a literal do not
--- unbalance what is matched around it. `decode` gives a literal's text back.
local function clean_c(src)
  local out, i, n = {}, 1, #src
  while i <= n do
    local c, c2 = src:sub(i, i), src:sub(i + 1, i + 1)
    if c == "/" and c2 == "*" then
      local j = src:find("*/", i + 2, true) or n - 1
      out[#out + 1] = (src:sub(i, j + 1):gsub("[^\n]", " "))
      i = j + 2
    elseif c == "/" and c2 == "/" then
      i = src:find("\n", i, true) or n + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and src:sub(j, j) ~= c do
        if src:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      local text = src:sub(i + 1, j - 1):gsub("[^%w_]", function(ch) return ("\\x%02x"):format(ch:byte()) end)
      out[#out + 1] = c .. text .. c
      i = j + 1
    else
      local j = src:find("[/\"']", i + 1) or n + 1
      out[#out + 1] = src:sub(i, j - 1)
      i = j
    end
  end
  return table.concat(out)
end

local function decode(text)
  return (text:gsub("\\x(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- The luaL_Reg tables of cleaned C source `src`: { [table name] = { names in order } }.
local function reg_tables(src)
  local tables = {}
  for tname, body in src:gmatch("static%s+const%s+luaL_Reg%s+([%w_]+)%s*%[%s*%]%s*=%s*(%b{})") do
    local names = {}
    for name in body:gmatch('{%s*"([^"]*)"%s*,') do names[#names + 1] = decode(name) end
    tables[tname] = names
  end
  return tables
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function sorted_keys(s)
  local out = {}
  for k in pairs(s) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function is_metamethod(name)
  return name:sub(1, 2) == "__"
end

--- The C modules src/runtime.c preloads: { "fs", "git", ... } (from "gt.fs", "gt.git"...).
local function c_modules()
  local src = assert(read("src/runtime.c"), "cannot read src/runtime.c")
  local names = reg_tables(clean_c(src)).preloaded
  assert(names, "src/runtime.c: no luaL_Reg table preloaded[]")
  local out = {}
  for _, name in ipairs(names) do
    out[#out + 1] = assert(name:match("^gt%.([%w_]+)$"), "src/runtime.c: preloads " .. name .. ", not gt.<name>")
  end
  assert(#out > 0, "src/runtime.c: preloaded[] names no module")
  return out
end

--- What the C side of module `m` registers: the file defining luaopen_gt_<m>, its module
--- functions (the table given to luaL_newlib there) and its method tables ({ table = names },
--- metamethods left out). Returns nil and a message when the file or the table is not found.
local function c_side(m)
  local opener = "luaopen_gt_" .. m
  local file, src
  for _, name in ipairs(assert(fs.dir(root .. "/src"))) do
    if name:match("%.c$") then
      local text = clean_c(read("src/" .. name))
      if text:find("int%s+" .. opener .. "%s*%(%s*lua_State%s*%*%s*[%w_]*%s*%)%s*{") then
        file, src = "src/" .. name, text
        break
      end
    end
  end
  if not file then return nil, ("gt.%s: no file in src/ defines %s"):format(m, opener) end
  local body = src:match("int%s+" .. opener .. "%s*%b()%s*(%b{})")
  local funcs_name = body and body:match("luaL_newlib%s*%(%s*[%w_]+%s*,%s*([%w_]+)%s*%)")
  local tables = reg_tables(src)
  if not funcs_name or not tables[funcs_name] then
    return nil, ("gt.%s: %s does not make the module with luaL_newlib(L, <luaL_Reg table>)"):format(m, file)
  end
  local c = { file = file, funcs = {}, methods = {} }
  for _, name in ipairs(tables[funcs_name]) do
    if not is_metamethod(name) then c.funcs[name] = true end
  end
  for tname, names in pairs(tables) do
    if tname ~= funcs_name then
      local s = {}
      for _, name in ipairs(names) do
        if not is_metamethod(name) then s[name] = true end
      end
      if next(s) then c.methods[tname] = s end
    end
  end
  return c
end

--- What stub lua/gt/_meta/<m>.lua declares: its module functions, and the methods of each of
--- its classes ({ [local name] = { class = "gt.Repo", methods = set } }). Functions on another
--- table (`function Other.name(`) are listed in `stray`. Returns nil and a message when there
--- is no stub.
local function stub_side(m)
  local file = "lua/gt/_meta/" .. m .. ".lua"
  local src = read(file)
  if not src then return nil, ("gt.%s: no stub %s"):format(m, file) end
  -- The local that holds the module: the one after "---@class gt.<m>", or the one returned.
  local module_var = src:match("%-%-%-@class%s+gt%." .. m .. "%s*\n%s*local%s+([%w_]+)%s*=%s*{%s*}")
    or src:match("\nreturn%s+([%w_]+)%s*$") or m
  local classes = {}
  for class, var in src:gmatch("%-%-%-@class%s+([%w_.]+)[^\n]*\n%s*local%s+([%w_]+)%s*=%s*{%s*}") do
    if var ~= module_var then classes[var] = { class = class, methods = {} } end
  end
  local s = { file = file, funcs = {}, classes = classes, stray = {} }
  for line in (src .. "\n"):gmatch("([^\n]*)\n") do
    local var, sep, name = line:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*%(")
    if var then
      if var == module_var and sep == "." then
        s.funcs[name] = true
      elseif sep == ":" then
        classes[var] = classes[var] or { class = var, methods = {} }
        classes[var].methods[name] = true
      else
        s.stray[#s.stray + 1] = var .. sep .. name
      end
    end
  end
  return s
end

--- Pairs each C method table with the stub class that declares most of its names.
local function match_classes(c, s)
  local pairs_out, used = {}, {}
  for _, tname in ipairs(sorted_keys(c.methods)) do
    local best, best_n = nil, 0
    for _, var in ipairs(sorted_keys(s.classes)) do
      local n = 0
      for name in pairs(c.methods[tname]) do
        if s.classes[var].methods[name] then n = n + 1 end
      end
      if n > best_n and not used[var] then best, best_n = var, n end
    end
    if best then used[best] = true end
    pairs_out[tname] = best
  end
  return pairs_out, used
end

--- The mismatches between module `m`'s C file and its stub, one message each.
local function static_problems(m)
  local c, err = c_side(m)
  if not c then return { err } end
  local s
  s, err = stub_side(m)
  if not s then return { err .. (" (%s registers: %s)"):format(c.file, table.concat(sorted_keys(c.funcs), ", ")) } end
  local problems = {}
  local function add(fmt, ...) problems[#problems + 1] = ("gt.%s: " .. fmt):format(m, ...) end
  for _, name in ipairs(sorted_keys(c.funcs)) do
    if not s.funcs[name] then add("%s registers function %s; %s does not declare it", c.file, name, s.file) end
  end
  for _, name in ipairs(sorted_keys(s.funcs)) do
    if not c.funcs[name] then add("%s declares function %s; %s does not register it", s.file, name, c.file) end
  end
  for _, stray in ipairs(s.stray) do
    add("%s declares function %s on neither the module nor a class", s.file, stray)
  end
  local matched, used = match_classes(c, s)
  for _, tname in ipairs(sorted_keys(c.methods)) do
    local var = matched[tname]
    if not var then
      add("%s registers methods %s (luaL_Reg %s); %s declares no class with them", c.file,
        table.concat(sorted_keys(c.methods[tname]), ", "), tname, s.file)
    else
      local cls = s.classes[var]
      for _, name in ipairs(sorted_keys(c.methods[tname])) do
        if not cls.methods[name] then
          add("%s registers method %s (luaL_Reg %s); %s does not declare %s:%s", c.file, name, tname, s.file,
            var, name)
        end
      end
      for _, name in ipairs(sorted_keys(cls.methods)) do
        if not c.methods[tname][name] then
          add("%s declares method %s:%s; %s does not register it (luaL_Reg %s)", s.file, var, name, c.file, tname)
        end
      end
    end
  end
  for _, var in ipairs(sorted_keys(s.classes)) do
    if not used[var] and next(s.classes[var].methods) then
      add("%s declares methods %s of %s; %s registers none of them", s.file,
        table.concat(sorted_keys(s.classes[var].methods), ", "), var, c.file)
    end
  end
  return problems
end

--- The mismatches between what require("gt.<m>") gives and the C file and stub say.
local function runtime_problems(m)
  local problems = {}
  local function add(fmt, ...) problems[#problems + 1] = ("gt.%s: " .. fmt):format(m, ...) end
  local ok, mod = pcall(require, "gt." .. m)
  if not ok then return { ("gt.%s: require failed: %s"):format(m, tostring(mod)) } end
  if type(mod) ~= "table" then return { ("gt.%s: require gave a %s, not a table"):format(m, type(mod)) } end
  local c = c_side(m) or { funcs = {} }
  local s = stub_side(m) or { funcs = {}, classes = {} }
  local want = {}
  for name in pairs(c.funcs) do want[name] = true end
  for name in pairs(s.funcs) do want[name] = true end
  for _, name in ipairs(sorted_keys(want)) do
    if type(mod[name]) ~= "function" then
      add("require('gt.%s').%s is a %s, not a function", m, name, type(mod[name]))
    end
  end
  for _, name in ipairs(sorted_keys(mod)) do
    if type(mod[name]) == "function" and not s.funcs[name] then
      add("require('gt.%s') has function %s, which the stub does not declare", m, name)
    end
  end
  -- A stub class names the C type (luaL_newmetatable): its methods are that metatable's __index.
  local registry = debug.getregistry()
  for _, var in ipairs(sorted_keys(s.classes)) do
    local cls = s.classes[var]
    if next(cls.methods) then
      local mt = registry[cls.class]
      local index = type(mt) == "table" and mt.__index
      if type(index) ~= "table" then
        add("stub class %s (%s) is no metatable with an __index table in the registry", cls.class, var)
      else
        for _, name in ipairs(sorted_keys(cls.methods)) do
          if type(index[name]) ~= "function" then add("%s has no method %s", cls.class, name) end
        end
        for _, name in ipairs(sorted_keys(index)) do
          if type(index[name]) == "function" and not is_metamethod(name) and not cls.methods[name] then
            add("%s has method %s, which the stub does not declare", cls.class, name)
          end
        end
      end
    end
  end
  return problems
end

describe("C modules and their stubs (lua/gt/_meta)", function()
  local modules = c_modules()

  it("the module list of src/runtime.c is read", function()
    assert.is_true(#modules >= 9, "only " .. table.concat(modules, ", "))
    assert.is_true(set_of(modules).fs and set_of(modules).git and true)
  end)

  for _, m in ipairs(modules) do
    it(("gt.%s: the C file and the stub name the same functions and methods"):format(m), function()
      local problems = static_problems(m)
      assert(#problems == 0, "\n" .. table.concat(problems, "\n"))
    end)

    it(("gt.%s: require gives what the C file and the stub name"):format(m), function()
      local problems = runtime_problems(m)
      assert(#problems == 0, "\n" .. table.concat(problems, "\n"))
    end)
  end

  describe("the parsers", function()
    it("read luaL_Reg tables by their strings, skipping comments", function()
      local t = reg_tables(clean_c([[
        static const luaL_Reg funcs[] = {
            {"open", anything_at_all}, /* {"gone", x}, */
            // {"also_gone", y},
            {"clone", wt_clone}, {"odd.name", f}, {NULL, NULL},
        };
        int luaopen_gt_x(lua_State *L) { s = "{(,[+-*/%^~#)"; c = '{'; luaL_newlib(L, funcs); }
        static const luaL_Reg meta[] = { {"__index", NULL}, {"__gc", g}, {NULL, NULL} };
      ]]))
      assert.same({ "open", "clone", "odd.name" }, t.funcs)
      assert.same({ "__index", "__gc" }, t.meta)
    end)

    it("find what the gt.git stub declares, module functions apart from Repo's methods", function()
      local s = assert(stub_side("git"))
      assert.is_true(s.funcs.open)
      assert.is_nil(s.funcs.head)
      assert.equal("gt.Repo", s.classes.Repo.class)
      assert.is_true(s.classes.Repo.methods.head)
    end)

    it("find gt.ledger's two method tables", function()
      local c = assert(c_side("ledger"))
      assert.is_true(c.funcs.open)
      local n = 0
      for _, names in pairs(c.methods) do
        n = n + 1
        assert.is_nil(names.__gc)
      end
      assert.equal(2, n)
    end)
  end)
end)
