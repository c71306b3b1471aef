---@meta
-- gt.snapshot (src/lgt_snapshot.c): a folder as git sees it, for saving what is in it and for
-- deleting it without losing anything. Failures return nil, "<path>: <reason>", CODE: "EACCES"
-- (a folder or file that cannot be read), "ENESTED" (a repository nested in the folder),
-- "ECHANGED" (remove met a file that changed or appeared since take), "ENOSPC", "EINTR", an
-- errno code, or a gt.git code for libgit2's failures.

---@class gt.snapshot
local snapshot = {}

---@class gt.SnapshotOpenOpts
---@field index? string An index file saying what is tracked (a worktree's, in its git folder). Absent or missing: nothing is.
---@field all? boolean No ignore rules apply: every file counts (a folder git does not manage).
---@field only? string[] The top-level names to consider (with all).

--- Opens the folder `dir` (absolute) against the repository of `repo` (its shared repository:
--- objects, ignore rules), through a handle of the snapshot's own. The assume-unchanged and
--- skip-worktree flags of the index are ignored, in memory, for the files that exist.
---@param repo gt.Repo
---@param opts? gt.SnapshotOpenOpts
---@return gt.Snapshot? snapshot
---@return string? err
---@return string? code
function snapshot.open(repo, dir, opts) end

---@class gt.Snapshot
local Snapshot = {}

--- What git's status does not say: folders that cannot be read (git skips them without a
--- word), how many ignored files there are and their size, which ignored files match a keep
--- pattern (.gitignore syntax: a pattern without a "/" matches the name of any file or folder
--- on the path, one with a "/" is anchored at the top, a trailing "/" matches folders, "**"
--- any number of folders; no "!" negation),
--- folders holding a repository that is not a submodule, FIFOs, sockets and devices; with
--- `all`, every file. Lists are in no set order.
---@param opts? {keep: string[]?}
---@return {unreadable: {path: string, reason: string}[], ignored_files: integer, ignored_bytes: integer, kept: string[], nested: string[], special: string[], files: string[]}? found
---@return string? err
---@return string? code
function Snapshot:scan(opts) end

--- Writes the folder as a tree into the repository: tracked files as they are on disk,
--- untracked ones that are not ignored, ignored ones that match a keep pattern (with `all`:
--- every file). Touches neither the folder nor the index file. Also returns the tree of the
--- index as it was opened (nil when it has conflicts or no entries). Fails on what cannot be
--- read ("EACCES") and on a nested repository ("ENESTED"), naming it. May be taken again;
--- remove uses the last take.
---@param opts? {keep: string[]?}
---@return string? tree
---@return string? index_tree_or_err
---@return string? code
function Snapshot:take(opts) end

--- Deletes the files of the folder that are exactly as the last take saw them (size, times,
--- inode), and ignored files, and the folders they leave empty; the folder itself stays. A
--- file that changed or appeared since (unless ignored and not kept) stops it with "ECHANGED",
--- naming it; so does a folder new files keep from being removed. What was deleted before the
--- stop was saved. A folder's .gitignore is deleted last, so its rules hold while it matters. A
--- repository inside (a .git), ignored or not, stops it too: its caller proves and empties it.
--- dotgit: also delete a top-level .git *file* (a worktree's or submodule's link to its git
--- folder); a .git folder is never deleted. dir: where the folder is now, when it was moved (as a
--- whole) since it was taken: its files keep their stat data. progress(deleted) is called with
--- the files deleted so far, at most every 100 ms while they go, and once at the end when any
--- were; an error it raises stops the deletion and is raised again.
---@param opts? {dotgit: boolean?, dir: string?, progress: fun(deleted: integer)?}
---@return true? ok
---@return string? err
---@return string? code
function Snapshot:remove(opts) end

--- Frees the snapshot (also `__close`, `__gc`); using it afterwards raises.
function Snapshot:close() end

return snapshot
