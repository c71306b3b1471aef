--- gt.shell: shell integration, so that gt can change the directory of the shell it runs in,
--- as Worktrunk and zoxide do.
---
--- `eval "$(gt shell-init bash)"` (zsh alike; fish: `gt shell-init fish | source`) defines a
--- shell function `gt` that runs the gt binary (`command gt`) with GT_CD_FILE naming a new empty
--- temporary file. A command that wants the shell to change directory (gt polecat cd NAME,
--- gt polecat add NAME --cd) writes the folder there (shell.change_dir); once gt exits, the
--- function changes to it, removes the file and returns gt's exit status. gt's stdout and
--- stderr pass through untouched (gt polecat list | ... works through it), and the folder is
--- never evaluated by the shell: any path works, spaces and quotes included. Without the
--- function, those commands print the folder and a one-line hint (shell.hint).
local errors = require("gt.errors")

local shell = {}

--- The shells gt shell-init knows.
shell.SHELLS = { "bash", "zsh", "fish" }

--- The environment variable the shell function sets for gt: the file to write the folder to.
shell.CD_FILE_VAR = "GT_CD_FILE"

-- bash and zsh: one function for both (local, $(...), ${x%.}, [ -s ] mean the same in each).
-- The folder is read with a trailing "." kept, so that $(...) strips no newline it ends with.
local POSIX = [[
# gt shell integration (%s): gt polecat cd NAME and gt polecat add NAME --cd change this
# shell's directory. Load it from %s with: %s
gt() {
  local __gt_file __gt_status __gt_dir
  __gt_file=$(mktemp "${TMPDIR:-/tmp}/gt-cd.XXXXXX") || { command gt "$@"; return; }
  GT_CD_FILE=$__gt_file command gt "$@"
  __gt_status=$?
  if [ -s "$__gt_file" ]; then
    __gt_dir=$(cat -- "$__gt_file"; printf .)
    __gt_dir=${__gt_dir%%.}
    cd -- "$__gt_dir" || __gt_status=1
  fi
  rm -f -- "$__gt_file"
  return "$__gt_status"
}
]]

local FISH = [[
# gt shell integration (fish): gt polecat cd NAME and gt polecat add NAME --cd change this
# shell's directory. Load it from ~/.config/fish/config.fish with: gt shell-init fish | source
function gt --description 'gt, able to change the directory of this shell'
    set -l __gt_tmp /tmp
    set -q TMPDIR; and set __gt_tmp $TMPDIR
    set -l __gt_file (command mktemp $__gt_tmp/gt-cd.XXXXXX)
    or begin
        command gt $argv
        return $status
    end
    begin
        set -lx GT_CD_FILE $__gt_file
        command gt $argv
    end
    set -l __gt_status $status
    if test -s $__gt_file
        read -l -z __gt_dir <$__gt_file
        cd $__gt_dir; or set __gt_status 1
    end
    command rm -f -- $__gt_file
    return $__gt_status
end
]]

--- The line that loads the integration in `name`'s start-up file, and that file.
local function how_to_load(name)
  if name == "fish" then return "gt shell-init fish | source", "~/.config/fish/config.fish" end
  return ('eval "$(gt shell-init %s)"'):format(name), name == "zsh" and "~/.zshrc" or "~/.bashrc"
end

--- The script that defines the `gt` function for shell `name` ("bash", "zsh" or "fish").
function shell.init_script(name)
  if name == "fish" then return FISH end
  if name ~= "bash" and name ~= "zsh" then
    errors.raise("usage", "no shell integration for %s (there is for bash, zsh and fish)", errors.quote(name))
  end
  local line, file = how_to_load(name)
  return POSIX:format(name, file, line)
end

--- Asks the shell to change to folder `path` once gt exits: writes it to the file the `gt`
--- function of gt shell-init names in GT_CD_FILE, and returns true; returns false when gt
--- runs without that function (no GT_CD_FILE).
function shell.change_dir(path)
  local file = os.getenv(shell.CD_FILE_VAR)
  if not file or file == "" then return false end
  local f, err = io.open(file, "wb")
  if not f then errors.raise("failure", "cannot tell the shell to change directory: %s", err) end
  local ok, werr = f:write(path)
  f:close()
  if not ok then errors.raise("failure", "cannot tell the shell to change directory: %s", werr) end
  return true
end

--- The one-line hint for a shell without the `gt` function: the line to add to the start-up
--- file of the user's shell ($SHELL; bash when it is none of the three).
function shell.hint()
  local name = (os.getenv("SHELL") or ""):match("([^/]*)$")
  if name ~= "zsh" and name ~= "fish" then name = "bash" end
  local line, file = how_to_load(name)
  return ("to change directory, add %s to %s"):format(line, file)
end

return shell
