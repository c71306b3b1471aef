--- Built-in command: gt shell-init, the shell integration (gt.shell).
local shell = require("gt.shell")

return {
  {
    name = "shell-init",
    summary = "Print the shell function that lets gt change your shell's directory (gt polecat cd).",
    description = "Print a shell function `gt` that runs gt and, after gt polecat cd NAME or " ..
      "gt polecat add NAME --cd, changes the shell's directory to the polecat's worktree. " ..
      "Load it from your shell's start-up file: eval \"$(gt shell-init bash)\" in ~/.bashrc, " ..
      "eval \"$(gt shell-init zsh)\" in ~/.zshrc, gt shell-init fish | source in " ..
      "~/.config/fish/config.fish. gt's output and exit status pass through it unchanged.",
    arguments = { { "shell", "The shell: bash, zsh or fish.", choices = shell.SHELLS } },
    run = function(cmd)
      io.stdout:write(shell.init_script(cmd.args.shell))
      return 0
    end,
  },
}
