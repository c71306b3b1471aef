--- gt.filters: whether checking out a commit needs libgit2's checkout filters.
--
-- With filters off, libgit2 checks out as fast as the git CLI (docs/design.md §1.5): it skips
-- a per-file attribute lookup that costs two realpath() calls per file. That is only correct
-- when no setting or attribute could convert content: no core.autocrlf or core.eol, and no
-- text/eol/crlf/ident/filter/working-tree-encoding attribute in the tree's .gitattributes,
-- info/attributes, core.attributesFile (or its XDG default) or /etc/gitattributes. The tree
-- part is cached in the ledger per tree.
local store = require("gt.store")
local errors = require("gt.errors")

local filters = {}

local CONVERTING = { text = true, eol = true, crlf = true, ident = true, filter = true,
  ["working-tree-encoding"] = true }

--- True if a gitattributes text sets or unsets any attribute that converts content.
function filters.attributes_convert(text)
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("^%s+", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local first = true
      for token in line:gmatch("%S+") do
        if not first then
          local attr = token:gsub("^[-!]", ""):gsub("=.*$", "")
          if CONVERTING[attr] then return true end
        end
        first = false
      end
    end
  end
  return false
end

local function read(path)
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function expand_home(path)
  if path and path:sub(1, 2) == "~/" then return (os.getenv("HOME") or "") .. path:sub(2) end
  return path
end

-- The attributes files outside the tree, as git reads them: the repository's info/attributes,
-- core.attributesFile (default $XDG_CONFIG_HOME/git/attributes), /etc/gitattributes.
local function outside_files(repo)
  local xdg = os.getenv("XDG_CONFIG_HOME")
  local global = repo:config("core.attributesFile") or
    ((xdg and xdg ~= "" and xdg or (os.getenv("HOME") or "") .. "/.config") .. "/git/attributes")
  return { repo:commondir() .. "info/attributes", expand_home(global), "/etc/gitattributes" }
end

--- Returns true (and why) if checking out `commit` of `repo` needs filters; `db` caches the
--- answer for the commit's tree.
function filters.needed(repo, commit, db)
  local autocrlf = repo:config("core.autocrlf")
  if autocrlf and autocrlf ~= "false" then return true, "core.autocrlf" end
  if repo:config("core.eol") then return true, "core.eol" end
  for _, path in ipairs(outside_files(repo)) do
    local text = read(path)
    if text and filters.attributes_convert(text) then return true, path end
  end
  local tree = repo:tree_of(commit)
  local cached = tree and db and store.tree_needs_filters(db, tree)
  if cached ~= nil then return cached, cached and ".gitattributes" or nil end
  local needs = false
  local files = repo:tree_find(commit, ".gitattributes") or {}
  for _, f in ipairs(files) do
    local text = repo:blob(f.oid)
    if text and filters.attributes_convert(text) then needs = true; break end
  end
  if tree and db then store.set_tree_needs_filters(db, tree, needs) end
  return needs, needs and ".gitattributes" or nil
end

-- Which rules may make checked-out content differ from the blob: without core.autocrlf true or
-- core.eol crlf, text/crlf never add a CR on checkout, so only eol (but eol=lf), ident,
-- filter, working-tree-encoding and the macros that include one of them (set, unset or not) can.
-- A rule with one of those makes the paths its pattern matches take git's conversion steps
-- (repo:write_tree_into); every other path is written as it is.
local function converting(token, macros)
  local sign, name, value = token:match("^([-!]?)([^=]*)=?(.*)$")
  if sign == "" and name == "eol" then return token == "eol" or value ~= "lf" end
  if sign == "" and (name == "ident" or name == "filter" or name == "working-tree-encoding") then
    return true
  end
  return macros[name] == true
end

local BLANK = "[ \t\r]"

-- The lines of a gitattributes text as {pattern, tokens} (nil pattern: a macro definition).
-- A quoted pattern becomes "*" (quoted = true), which matches every path below the file's
-- folder. Negative patterns are left out, as git does.
local function parse(text)
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("^" .. BLANK .. "+", "")
    local first = line:sub(1, 1)
    if line ~= "" and first ~= "#" and first ~= "!" then
      local pattern, rest
      if first == '"' then
        local close = 2
        while close <= #line and line:sub(close, close) ~= '"' do
          close = close + (line:sub(close, close) == "\\" and 2 or 1)
        end
        pattern, rest = "*", line:sub(close + 1)
      else
        pattern, rest = line:match("^(%S+)(.*)$")
      end
      local tokens = {}
      for token in rest:gmatch("[^ \t\r]+") do tokens[#tokens + 1] = token end
      local macro = pattern:match("^%[attr%](.+)$")
      lines[#lines + 1] = { pattern = not macro and pattern or nil, macro = macro, tokens = tokens,
        quoted = first == '"' }
    end
  end
  return lines
end

--- What repo:write_tree_into must convert to check `commit` out as git would: nil when no
--- setting or attribute can convert content (then every file is written as it is), {all =
--- true} when a setting may convert every file (core.autocrlf true, core.eol crlf), else
--- {rules = {{base = "sub/", pattern = "*.bat"}...}}: the rules of every attributes file
--- (the tree's .gitattributes, info/attributes, the user's and the system's) that may, a superset
--- of git's. `db` caches whether the tree's files convert at all (filters.needed).
function filters.plan(repo, commit, db)
  if not filters.needed(repo, commit, db) then return nil end
  local autocrlf = (repo:config("core.autocrlf") or "false"):lower()
  local eol = (repo:config("core.eol") or ""):lower()
  if (autocrlf ~= "false" and autocrlf ~= "input" and autocrlf ~= "no" and autocrlf ~= "off"
      and autocrlf ~= "0" and autocrlf ~= "") or (autocrlf ~= "input" and eol == "crlf") then
    return { all = true }
  end
  local files = {}
  for _, path in ipairs(outside_files(repo)) do
    local text = read(path)
    if text then files[#files + 1] = { base = "", name = path, lines = parse(text) } end
  end
  for _, f in ipairs(repo:tree_find(commit, ".gitattributes") or {}) do
    local text = repo:blob(f.oid)
    if text then
      files[#files + 1] = { base = f.path:match("^(.*/)") or "", name = f.path, lines = parse(text) }
    end
  end
  -- Macros (git reads them from the top-level files only; any file here, to be safe), then
  -- which of them may convert, through the macros they use.
  local macros, defs, changed = {}, {}, true
  for _, f in ipairs(files) do
    for _, l in ipairs(f.lines) do
      if l.macro then defs[#defs + 1] = l end
    end
  end
  while changed do
    changed = false
    for _, l in ipairs(defs) do
      if not macros[l.macro] then
        for _, token in ipairs(l.tokens) do
          if converting(token, macros) then macros[l.macro], changed = true, true; break end
        end
      end
    end
  end
  local rules = {}
  for _, f in ipairs(files) do
    for _, l in ipairs(f.lines) do
      if l.pattern then
        for _, token in ipairs(l.tokens) do
          if converting(token, macros) and l.quoted then
            -- libgit2, which reads the attributes for gt, does not read quoted patterns
            errors.raise("failure", "%s: a quoted pattern sets %s, and libgit2 does not read " ..
              "quoted patterns: gt would write other bytes than git", f.name, token)
          elseif converting(token, macros) then
            rules[#rules + 1] = { base = f.base, pattern = l.pattern }
            break
          end
        end
      end
    end
  end
  return { rules = rules }
end

return filters
