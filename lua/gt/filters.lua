--- gt.filters: whether checking out a commit needs libgit2's checkout filters.
--
-- With filters off, libgit2 checks out as fast as the git CLI (docs/design.md §1.5): it skips
-- a per-file attribute lookup that costs two realpath() calls per file. That is only correct
-- when no setting or attribute could convert content: no core.autocrlf or core.eol, and no
-- text/eol/crlf/ident/filter/working-tree-encoding attribute in the tree's .gitattributes,
-- info/attributes, core.attributesFile (or its XDG default) or /etc/gitattributes. The tree
-- part is cached in the ledger per tree.
local store = require("gt.store")

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

--- Returns true (and why) if checking out `commit` of `repo` needs filters; `db` caches the
--- answer for the commit's tree.
function filters.needed(repo, commit, db)
  local autocrlf = repo:config("core.autocrlf")
  if autocrlf and autocrlf ~= "false" then return true, "core.autocrlf" end
  if repo:config("core.eol") then return true, "core.eol" end
  local xdg = os.getenv("XDG_CONFIG_HOME")
  local global = repo:config("core.attributesFile") or
    ((xdg and xdg ~= "" and xdg or (os.getenv("HOME") or "") .. "/.config") .. "/git/attributes")
  for _, path in ipairs({ repo:commondir() .. "info/attributes", expand_home(global),
    "/etc/gitattributes" }) do
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

return filters
