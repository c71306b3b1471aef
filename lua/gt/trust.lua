--- gt.trust: code that lives in folders gt does not own runs only when the user trusts it
--- (docs/design.md §5.6; docs/hooks.md, "Code inside the managed repository: trust"). This
--- module keeps the records; gt.usercode asks it before it runs anything.
--
-- Two kinds of trust, both kept in $XDG_STATE_HOME/gt (outside every repository):
--
-- * Folders the user owns (`owned`): a town made by `gt init` and a rig made by `gt rig add`
--   are recorded as the user's own, and so is a folder given to `gt trust DIR`. The init files
--   and module overrides of a town or rig run only if its folder is owned: a repository that
--   commits .gt/town.lua and .gt/init.lua does not become a town whose code runs in every clone.
-- * Files (`trust`): a file given to `gt trust FILE` is recorded with its real path and SHA-256,
--   one "<sha256> <path>" line per file, as Neovim's vim.secure does; a changed file needs new
--   trust. A project's .gt/hooks.lua runs this way only. Trust given to the file in one
--   polecat's worktree also covers the same file, with the same content, in the other
--   polecats of that rig (their worktrees are the same checkout at another path).
--
-- A trusted file is read once (trust.read: a regular file, bounded): the bytes hashed are the
-- bytes that run, so a file swapped in between runs nothing.
local fs = require("gt.fs")
local hash = require("gt.hash")
local errors = require("gt.errors")
local layout = require("gt.layout")
local locate = require("gt.locate")

local trust = {}

--- Largest user file gt reads.
trust.MAX_BYTES = 1024 * 1024

--- Reads the user file at `path` whole: its content | nil, message, code ("ENOTREG" for
--- anything but a regular file, so that a FIFO or /dev/zero is refused rather than read
--- forever; "ETOOBIG" above trust.MAX_BYTES; or an errno code).
function trust.read(path)
  return fs.read_file(path, { max_bytes = trust.MAX_BYTES })
end

--- The trust database of files: $XDG_STATE_HOME/gt/trust.
function trust.db_path()
  return locate.state_home() .. "/gt/trust"
end

--- The list of folders the user owns: $XDG_STATE_HOME/gt/owned.
function trust.owned_path()
  return locate.state_home() .. "/gt/owned"
end

local function read_lines(path)
  local lines = {}
  local data = fs.read_file(path, { max_bytes = 16 * 1024 * 1024 })
  for line in (data or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

local function write_lines(path, lines)
  errors.check_doing("creating " .. path:match("^(.*)/"), fs.mkdir_p(path:match("^(.*)/")))
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then errors.raise("failure", "writing %s: %s", tmp, err) end
  local ok, werr = f:write(table.concat(lines, "\n"), #lines > 0 and "\n" or "")
  if ok then ok, werr = f:close() else f:close() end
  if not ok then os.remove(tmp); errors.raise("failure", "writing %s: %s", tmp, werr) end
  local rok, rerr = os.rename(tmp, path)
  if not rok then errors.raise("failure", "writing %s: %s", path, rerr) end
end

--- Reads the database: { {sha = ..., path = ...}... }.
function trust.entries()
  local list = {}
  for _, line in ipairs(read_lines(trust.db_path())) do
    local sha, path = line:match("^(%x+) (.+)$")
    if sha and #sha == 64 then list[#list + 1] = { sha = sha, path = path } end
  end
  return list
end

local function save(list)
  local lines = {}
  for i, e in ipairs(list) do lines[i] = e.sha .. " " .. e.path end
  write_lines(trust.db_path(), lines)
end

--- The folders the user owns (real paths).
function trust.owned()
  return read_lines(trust.owned_path())
end

--- True if the folder `dir` is one the user owns.
function trust.owns(dir)
  local real = fs.realpath(dir)
  if not real then return false end
  for _, d in ipairs(trust.owned()) do
    if d == real then return true end
  end
  return false
end

--- Records the folder `dir` (a town or a rig) as the user's own: its init files and module
--- overrides run. Returns its real path.
function trust.own(dir)
  local real = errors.check(fs.realpath(dir))
  local list = {}
  for _, d in ipairs(trust.owned()) do
    if d ~= real then list[#list + 1] = d end
  end
  list[#list + 1] = real
  write_lines(trust.owned_path(), list)
  return real
end

--- The place a file stands for: a polecat's worktree file <rig>/polecats/<name>/<rig>/<file>
--- stands for that file in every polecat of the rig.
trust.scope = layout.trust_scope

--- Reads the file at `path` once and says whether it is trusted: returns "trusted", "changed"
--- (trusted once, with other content) or "untrusted", its real path, its SHA-256 and its
--- content; or nil, a message and a code when it cannot be read as a user file (not a regular
--- file, too large, unreadable).
function trust.check(path)
  local real, rerr, rcode = fs.realpath(path)
  if not real then return nil, rerr, rcode end
  local data, err, code = trust.read(real)
  if not data then return nil, err, code end
  local sha = hash.sha256(data)
  local scope = trust.scope(real)
  local known = false
  for _, e in ipairs(trust.entries()) do
    if e.path == real or trust.scope(e.path) == scope then
      if e.sha == sha then return "trusted", real, sha, data end
      known = true
    end
  end
  return known and "changed" or "untrusted", real, sha, data
end

--- Trusts the file at `path` as it is now (returns its real path and SHA-256), or, for a
--- folder that is a town or a rig, records it as the user's own (returns its real path).
function trust.add(path)
  -- No "trust: " in these messages: the command's name comes in front of them already.
  local st = fs.stat(path)
  if not st then errors.raise("notfound", "no file %s", path) end
  if st.type == "directory" then
    if not locate.is_town(path) and not fs.stat(layout.rig_config(path)) then
      errors.raise("usage", "%s is a folder but not a town or a rig: trust a file, or a town or rig folder", path)
    end
    return trust.own(path)
  end
  local real = errors.check(fs.realpath(path))
  local data = errors.check(trust.read(real))
  local sha = hash.sha256(data)
  local list = {}
  for _, e in ipairs(trust.entries()) do
    if e.path ~= real then list[#list + 1] = e end
  end
  list[#list + 1] = { sha = sha, path = real }
  save(list)
  return real, sha
end

--- The real path of `path`, also when it names a file that is gone (its polecat removed): the
--- part of it that still exists is resolved (links, ".."), the rest appended. Entries hold real
--- paths, so a gone file named through a link to the town still finds its entry.
function trust.real_path(path)
  local real = fs.realpath(path)
  if real then return real end
  if path:sub(1, 1) ~= "/" then path = (fs.realpath(".") or fs.cwd()) .. "/" .. path end
  local head, rest = path, {}
  while not real do
    local parent, name = head:match("^(.*)/([^/]*)$")
    table.insert(rest, 1, name)
    head = parent == "" and "/" or parent
    real = fs.realpath(head)
  end
  local parts = {}
  for part in real:gmatch("[^/]+") do parts[#parts + 1] = part end
  for _, part in ipairs(rest) do
    if part == ".." then
      parts[#parts] = nil
    elseif part ~= "." and part ~= "" then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

--- Withdraws the trust given to `path`, and to the same file in the other polecats of its rig
--- (the trust that covers it, see trust.check), or the ownership of a folder; returns how many
--- entries were removed (raises when there were none). The file may be gone (its polecat
--- removed).
function trust.revoke(path)
  local real = trust.real_path(path)
  local owned, kept = trust.owned(), {}
  for _, d in ipairs(owned) do
    if d ~= real then kept[#kept + 1] = d end
  end
  if #kept < #owned then
    write_lines(trust.owned_path(), kept)
    return #owned - #kept
  end
  local scope = trust.scope(real)
  local list, removed = {}, 0
  for _, e in ipairs(trust.entries()) do
    if e.path == real or trust.scope(e.path) == scope then
      removed = removed + 1
    else
      list[#list + 1] = e
    end
  end
  if removed == 0 then errors.raise("notfound", "%s is not trusted", real) end
  save(list)
  return removed
end

return trust
