---@meta
-- gt.git (src/lgt_git.c): the git mechanism gt needs, on libgit2 (initialised when a
-- repository is first opened or cloned, with strict hash verification off).
--
-- Operational failures return nil, "<context>: <libgit2 message>", CODE, CODE being one of
-- "ENOTFOUND", "EEXISTS", "ELOCKED", "EUNBORN", "EINVALID", "ECONFLICT", "EAMBIGUOUS", "EBARE",
-- "ECHECKEDOUT", "ECHANGED" (branch_delete), "EREJECTED", "EAUTH" (push), "EOWNER" (a
-- repository another user owns), "ENOSPC" (the disk is full), "EINTR" (gt was interrupted) or
-- "EGIT" (anything libgit2 has no specific code for).
-- Misuse (wrong argument types, a closed repository) raises. Revisions (`spec`) are anything
-- git_revparse accepts: "refs/remotes/origin/main", "HEAD", a hex id; they are peeled to commits.

---@class gt.git
local git = {}

--- Opens the repository at `path` (a bare repository, or a worktree's folder) without searching
--- parent folders.
---@return gt.Repo? repo
---@return string? err
---@return string? code
function git.open(path) end

---@class gt.git.CloneOpts
---@field bare? boolean default true
---@field progress? fun(stats: {received_objects: integer, indexed_objects: integer, total_objects: integer, received_bytes: integer, indexed_deltas: integer, total_deltas: integer})
---  Called while objects arrive; an error it raises cancels the clone and is raised again.

--- Clones `url` (URL or local path) into `path`; origin's branches land under
--- refs/remotes/origin/ and HEAD points at origin's default branch.
---@param opts? gt.git.CloneOpts
---@return gt.Repo? repo
---@return string? err
---@return string? code
function git.clone(url, path, opts) end

--- Returns libgit2's version ("1.5.1"); loads libgit2 (src/git2_lazy.h).
---@return string
function git.libgit2_version() end

--- The libgit2 version gt was built against, known without loading it ("1.5.1").
---@type string
git.LIBGIT2_BUILT = ""

---@class gt.Repo
local Repo = {}

--- Frees the repository (also `__close`, `__gc`); using it afterwards raises.
function Repo:close() end

--- Returns the git folder (a worktree's own admin folder for a worktree), with a final "/".
---@return string
function Repo:gitdir() end

--- Returns the folder shared by all worktrees of the repository, with a final "/".
---@return string
function Repo:commondir() end

--- Returns the working tree's folder, or nil for a bare repository.
---@return string?
function Repo:workdir() end

--- Returns HEAD: the branch it names (ref, nil when detached), the commit (oid, nil when
--- unborn), and whether it is detached or unborn.
---@return {ref: string?, oid: string?, detached: boolean, unborn: boolean}? head
---@return string? err
---@return string? code
function Repo:head() end

--- Resolves a revision to a commit id.
---@return string? oid
---@return string? err
---@return string? code
function Repo:resolve(spec) end

--- Returns the id of a commit's tree.
---@return string? tree
---@return string? err
---@return string? code
function Repo:tree_of(spec) end

--- Returns a config value, or nil when unset.
---@return string?
function Repo:config(key) end

--- Fetches `remote` with its configured refspecs. Also returns the branch the remote's HEAD
--- names ("refs/heads/main"), or nil when it did not say.
---@param opts? {prune: boolean?, progress: function?}
---@return true? ok
---@return string? head_or_err
---@return string? code
function Repo:fetch(remote, opts) end

--- Pushes to `remote` with explicit refspecs ({"refs/heads/x:refs/heads/x"}); the
--- remote-tracking refs its fetch refspecs map them to are updated. Local paths and file:// URLs
--- need no credentials; an ssh URL is given the ssh-agent's keys ($SSH_AUTH_SOCK), once; https
--- credentials (which git asks its credential helpers for) cannot be given: "EAUTH". A ref the
--- remote refused, or a push that is not a fast-forward, is "EREJECTED" with the remote's
--- reason. progress is called as objects are sent; an error it raises stops the push and is
--- raised again.
---@param refspecs string[]
---@param opts? {progress: fun(stats: {current: integer, total: integer, bytes: integer})?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:push(remote, refspecs, opts) end

--- Creates local branch `name` at revision `start` (no upstream config); returns the commit id.
--- "EEXISTS" when it exists, unless opts.force.
---@param opts? {force: boolean?}
---@return string? oid
---@return string? err
---@return string? code
function Repo:branch_create(name, start, opts) end

--- Returns the commit a local branch points at ("ENOTFOUND" when there is none).
---@return string? oid
---@return string? err
---@return string? code
function Repo:branch_lookup(name) end

--- Returns whether any worktree has the branch checked out.
---@return boolean? checked_out
---@return string? err
---@return string? code
function Repo:branch_is_checked_out(name) end

--- Deletes a local branch; "ECHECKEDOUT" when a worktree has it checked out. With opts.expect
--- (a commit id), only while the branch is there: "ECHANGED" when it is not, or when it moves
--- while being deleted (checked under the ref's lock).
---@param opts? {expect: string?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:branch_delete(name, opts) end

--- Adds worktree `name` (git's record .git/worktrees/<name>) at `path` on existing local branch
--- `branch`. The parent of path must exist and path must not. opts.lock locks it with that
--- reason; opts.checkout = false writes only the metadata (then call checkout_head on the
--- worktree). A failure may leave the record, the folder and the branch behind: roll back.
---@param opts? {lock: string?, checkout: boolean?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:worktree_add(name, path, branch, opts) end

--- Writes HEAD's tree into the working tree and index. force overwrites local changes;
--- disable_filters skips the per-file attribute lookup (only correct when no attribute or
--- setting converts content; see gt.filters).
---@param opts? {force: boolean?, disable_filters: boolean?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:checkout_head(opts) end

--- Makes the working tree and index those of commit `spec`, leaving HEAD as it is (then
--- Repo:set_head). Safe unless force: only the files that differ between `baseline` (a tree or
--- revision: what the working tree is known to hold; default HEAD's tree) and the target are
--- written or removed, and a file that is not as the baseline has it where the target changes it
--- is a conflict ("ECONFLICT": nothing is written). Untracked and ignored files stay, unless
--- remove_untracked (ignored ones always stay). `paths` (exact paths, not patterns; not empty):
--- the only paths looked at, so that only their folders are read, not the whole working tree.
--- Returns how many files it wrote or removed.
---@param opts? {baseline: string?, force: boolean?, remove_untracked: boolean?, disable_filters: boolean?, paths: string[]?}
---@return integer? written
---@return string? err
---@return string? code
function Repo:checkout_tree(spec, opts) end

--- Lists the repository's worktrees. A record git cannot read (half-written by a killed
--- command) is listed as { name, valid = false, broken = true }.
---@return {name: string, path: string?, locked: string|false|nil, valid: boolean, broken: boolean?}[]? list
---@return string? err
---@return string? code
function Repo:worktrees() end

--- Locks a worktree with a reason ("ELOCKED" when already locked).
---@return true? ok
---@return string? err
---@return string? code
function Repo:worktree_lock(name, reason) end

--- Unlocks a worktree (also success when it was not locked).
---@return true? ok
---@return string? err
---@return string? code
function Repo:worktree_unlock(name) end

--- Removes git's record of a worktree: by default only when its folder is gone and it is not
--- locked; valid and locked lift those conditions; working_tree also deletes the folder.
---@param opts? {valid: boolean?, locked: boolean?, working_tree: boolean?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:worktree_prune(name, opts) end

---@class gt.Repo.StatusOpts
---@field ignored? boolean walk ignored folders too: the result then has `ignored` and `blocked`
---@field keep? string[] patterns (as in .gitignore) of ignored files to list in ignored.kept

--- Returns the paths that differ, by kind (lists sorted), as git status finds them: one walk of
--- the working tree (a few threads), each tracked file compared with its index entry's stat
--- data, only a stale or racily clean one hashed; staged changes from the index's tree against
--- HEAD's. Nothing is written. Untracked folders are listed file by file; ignored files are not
--- reported; a path may be both staged and unstaged. Edits hidden by the assume-unchanged and
--- skip-worktree flags are seen (a skip-worktree file that is absent is not an edit). A folder
--- holding a repository that is not a submodule is listed in `nested` ("dir/") and not walked; a
--- file that cannot be read in `unreadable`. Submodules are not looked into: see
--- Repo:submodules. With `ignored`: `ignored` = {files, bytes, kept} counts the ignored files,
--- `nested` also lists repositories in ignored folders, and `blocked` lists what could not be
--- listed or lstat'ed (folders git status skips without a word), with the reason.
---@param opts? gt.Repo.StatusOpts
---@return {staged: string[], unstaged: string[], untracked: string[], conflicted: string[], unreadable: string[], nested: string[], blocked: {path: string, reason: string}[]?, ignored: {files: integer, bytes: integer, kept: string[]}?}? status
---@return string? err
---@return string? code
function Repo:status(opts) end

--- Lists the submodules of a repository with a working tree, whatever .gitmodules says about
--- ignoring them: the commits the superproject's HEAD and index name for each, and the one
--- checked out in its folder (workdir, nil when it is not checked out).
---@return {name: string, path: string, url: string?, head: string?, index: string?, workdir: string?}[]? submodules
---@return string? err
---@return string? code
function Repo:submodules() end

--- Lists commits reachable from `spec` and from no ref matching `glob` ("refs/remotes/*": on no
--- remote-tracking branch), newest first, at most `limit` (100); `total` counts them all. A
--- matching symbolic ref whose target is gone (origin/HEAD after origin renamed its default
--- branch) is skipped, not an error.
---@return {oid: string, summary: string}[]? commits
---@return integer|string total_or_err
---@return string? code
function Repo:commits_not_on(spec, glob, limit) end

--- Lists the commits reachable from `spec`, newest first, at most `limit` (100).
---@return {oid: string, summary: string, message: string, author: string, email: string, time: integer}[]? commits
---@return string? err
---@return string? code
function Repo:log(spec, limit) end

--- Counts commits in `a` and not `b` (ahead), and in `b` and not `a` (behind).
---@return integer? ahead
---@return integer|string behind_or_err
---@return string? code
function Repo:ahead_behind(a, b) end

--- Lists the repository's stashes (shared by all its worktrees), or only those whose message
--- names branch `branch` ("WIP on <branch>:" or "On <branch>:").
---@return {index: integer, message: string, oid: string}[]? stashes
---@return string? err
---@return string? code
function Repo:stashes(branch) end

--- Makes commit `commit` (one git stash made) stash@{0}, with `message` in refs/stash's reflog,
--- as git stash store does; the stashes before it move down one.
---@return true? ok
---@return string? err
---@return string? code
function Repo:stash_store(commit, message) end

--- Drops stash@{index} while it is commit `expect` ("ECHANGED" when it is another one,
--- "ENOTFOUND" when there is none).
---@param index integer
---@param expect string
---@return true? ok
---@return string? err
---@return string? code
function Repo:stash_drop(index, expect) end

--- Compares two trees (ids; `old` nil: the empty tree): the files that differ, with status
--- "added", "deleted", "modified" or "typechange" (no rename detection; a gitlink is compared
--- by the commit it names).
---@param old string?
---@param new string
---@return {path: string, status: string}[]? changes
---@return string? err
---@return string? code
function Repo:diff_trees(old, new) end

--- Reads one commit (`time`: Unix seconds; `parents` in order).
---@return {oid: string, tree: string, parents: string[], message: string, summary: string, author: string, email: string, time: integer}? commit
---@return string? err
---@return string? code
function Repo:commit(spec) end

--- Makes the index of the repository (a worktree's own) hold tree `spec` (a tree, or a
--- commit's), and writes it; the working tree is not touched. Entries whose path, mode and
--- object stay keep their stat data.
---@return true? ok
---@return string? err
---@return string? code
function Repo:index_read_tree(spec) end

--- Writes the files of tree `spec` (a tree, or a commit's) into folder `dir` (made if missing),
--- which need not be the repository's working tree: as a checkout writes them (modes, symbolic
--- links, filters unless disable_filters), writing no index or HEAD and touching nothing the
--- tree does not name. A file of the tree already in `dir` is a conflict ("ECONFLICT": nothing
--- is written) unless force. Returns how many files it wrote.
---@param opts? {force: boolean?, disable_filters: boolean?}
---@return integer? written
---@return string? err
---@return string? code
function Repo:checkout_to(spec, dir, opts) end

--- Writes the tree of `spec` (a commit or tree) into this repository's working tree, which must
--- be new (nothing is overwritten), with `jobs` threads (default: the online CPUs), then writes
--- the index with every file's stat data. The files `filters` may convert (gt.filters.plan: all,
--- or those a rule's pattern matches below its base folder; spec must then be a commit) are
--- converted as git converts them: their attributes read (libgit2), then ident, CRLF,
--- working-tree-encoding and a filter driver's smudge command (run through sh on the calling
--- thread; a required driver's failure fails the write, "EGIT"; a `process` driver is refused,
--- "EINVALID"); the others are written as they are. Submodules become empty folders. On error
--- ("EINTR" if interrupted) what was written stays for the caller to remove. Returns how many
--- entries it wrote, and the failures git would only report (a filter that is not required).
--- progress(done, total) is called on the calling thread, never by the workers: once before,
--- every 100 ms while files are written, once after; an error it raises stops the write and is
--- raised again.
---@param opts? {jobs: integer?, filters: {all: boolean?, rules: {base: string, pattern: string}[]?}?, progress: fun(done: integer, total: integer)?}
---@return integer? written
---@return string[]|string|nil warnings_or_err
---@return string? code
function Repo:write_tree_into(spec, opts) end

--- Creates a commit object (no ref is updated). Without author, user.name/user.email are used,
--- else "gt <gt@localhost>".
---@param c {tree: string, parents: string[]?, message: string, author: {name: string, email: string}?}
---@return string? oid
---@return string? err
---@return string? code
function Repo:commit_create(c) end

--- Merges commit `theirs` into `ours` in memory and returns the merged tree ("ECONFLICT" when
--- the merge conflicts).
---@return string? tree
---@return string? err
---@return string? code
function Repo:merge_trees(ours, theirs) end

--- Lists the files called `name` anywhere in the tree of commit `spec`.
---@return {path: string, oid: string}[]? files
---@return string? err
---@return string? code
function Repo:tree_find(spec, name) end

--- Returns the content of a blob.
---@return string? content
---@return string? err
---@return string? code
function Repo:blob(oid) end

--- Creates a ref ("EEXISTS" when it exists, unless opts.force).
---@param opts? {force: boolean?, message: string?}
---@return true? ok
---@return string? err
---@return string? code
function Repo:ref_create(name, oid, opts) end

--- Returns the id a ref points at.
---@return string? oid
---@return string? err
---@return string? code
function Repo:ref_lookup(name) end

--- Lists direct refs, all or those matching `glob`, in no set order.
---@return {name: string, oid: string}[]? refs
---@return string? err
---@return string? code
function Repo:refs(glob) end

--- Deletes a ref ("ENOTFOUND" when there is none).
---@return true? ok
---@return string? err
---@return string? code
function Repo:ref_delete(name) end

--- Returns the ref a symbolic ref names ("refs/remotes/origin/main"), or nil when `name` is not
--- a symbolic ref.
---@return string?
function Repo:symref(name) end

--- Makes `name` a symbolic ref to `target`, replacing what was there.
---@return true? ok
---@return string? err
---@return string? code
function Repo:symref_set(name, target, message) end

--- Points HEAD at branch `ref` ("refs/heads/x"); the working tree and index are not touched.
---@return true? ok
---@return string? err
---@return string? code
function Repo:set_head(ref) end

--- Detaches HEAD at the commit `spec` names (default: HEAD's); the working tree and index are
--- not touched. Returns the commit id.
---@return string? oid
---@return string? err
---@return string? code
function Repo:detach_head(spec) end
