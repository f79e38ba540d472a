import type { Command, Option } from 'commander';
import { act, oneOf } from './command-kit.js';

/**
 * `latchkey completion bash|zsh`: a completion script made from the command tree itself, so a
 * new command or flag is completed without anyone editing a script.
 *
 *   bash: `source <(latchkey completion bash)` (or save it under /etc/bash_completion.d/latchkey)
 *   zsh:  `source <(latchkey completion zsh)` (or save it as `_latchkey` on your $fpath)
 */

interface Node {
  path: string;
  description: string;
  subcommands: Array<{ name: string; description: string }>;
  options: Array<{ flag: string; description: string; takesValue: boolean }>;
}

function walk(cmd: Command, prefix: string, nodes: Node[]): void {
  const subs = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  nodes.push({
    path: prefix,
    description: cmd.description(),
    subcommands: subs.flatMap((c) => [c.name(), ...c.aliases()].map((name) => ({ name, description: c.description() }))),
    options: [
      ...cmd.options.filter((o: Option) => !o.hidden),
      { long: '--help', short: '-h', description: 'show help', required: false, optional: false } as unknown as Option,
    ].flatMap((o: Option) =>
      [o.long, o.short]
        .filter((f): f is string => typeof f === 'string')
        .map((flag) => ({ flag, description: o.description, takesValue: o.required || o.optional })),
    ),
  });
  for (const c of subs) walk(c, prefix === '' ? c.name() : `${prefix} ${c.name()}`, nodes);
  // Aliases lead to the same node.
  for (const c of subs) for (const a of c.aliases()) walk(c, prefix === '' ? a : `${prefix} ${a}`, nodes);
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashScript(program: Command): string {
  const nodes: Node[] = [];
  walk(program, '', nodes);
  const cases = nodes.map((n) => {
    const valued = n.options.filter((o) => o.takesValue).map((o) => o.flag);
    return `    ${sq(n.path)}) subs=${sq(n.subcommands.map((s) => s.name).join(' '))}; opts=${sq(n.options.map((o) => o.flag).join(' '))}; valued=${sq(valued.join(' '))} ;;`;
  });
  return `# bash completion for latchkey (made by \`latchkey completion bash\`)
__latchkey_node() {
  case "$1" in
${cases.join('\n')}
    *) subs=''; opts=''; valued='' ;;
  esac
}

_latchkey() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' subs opts valued w i skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    if [[ "$w" == -- ]]; then
      # After \`run ... --\`: complete the command to run and its files.
      COMPREPLY=( $(compgen -c -- "$cur") $(compgen -f -- "$cur") )
      return 0
    fi
    __latchkey_node "$path"
    if [[ "$w" == -* ]]; then
      [[ " $valued " == *" $w "* ]] && skip=1
      continue
    fi
    [[ " $subs " == *" $w "* ]] && path="\${path:+$path }$w"
  done
  __latchkey_node "$path"
  if [[ $skip == 1 ]]; then
    COMPREPLY=( $(compgen -f -- "$cur") )
  elif [[ "$cur" == -* || -z "$subs" ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
  fi
  return 0
}
complete -o default -F _latchkey latchkey
`;
}

export function zshScript(program: Command): string {
  const nodes: Node[] = [];
  walk(program, '', nodes);
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:').replace(/\n/g, ' ');
  const cases = nodes.map((n) => {
    const subs = n.subcommands.map((s) => sq(`${esc(s.name)}:${esc(s.description)}`)).join(' ');
    const opts = n.options.map((o) => sq(`${esc(o.flag)}:${esc(o.description)}`)).join(' ');
    const valued = n.options
      .filter((o) => o.takesValue)
      .map((o) => sq(o.flag))
      .join(' ');
    return `    ${sq(n.path)}) subs=(${subs}); opts=(${opts}); valued=(${valued}) ;;`;
  });
  return `#compdef latchkey
# zsh completion for latchkey (made by \`latchkey completion zsh\`)
__latchkey_node() {
  case "$1" in
${cases.join('\n')}
    *) subs=(); opts=(); valued=() ;;
  esac
}

_latchkey() {
  local path_='' w i skip=0
  local -a subs opts valued names
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$w" == -- ]]; then
      # After \`run ... --\`: complete the command to run as if typed alone.
      shift $i words
      (( CURRENT -= i ))
      _normal
      return
    fi
    __latchkey_node "$path_"
    if [[ "$w" == -* ]]; then
      (( \${valued[(Ie)$w]} )) && skip=1
      continue
    fi
    names=(\${subs%%:*})
    (( \${names[(Ie)$w]} )) && path_="\${path_:+$path_ }$w"
  done
  __latchkey_node "$path_"
  if (( skip )); then
    _files
  elif [[ "\${words[CURRENT]}" == -* || \${#subs} -eq 0 ]]; then
    _describe -t options 'option' opts
  else
    _describe -t commands 'command' subs
  fi
}

if [[ "$funcstack[1]" == _latchkey ]]; then
  _latchkey "$@"
else
  compdef _latchkey latchkey
fi
`;
}

export function addCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('Print a shell completion script: source <(latchkey completion bash)')
    .argument('<shell>', 'bash or zsh', oneOf('shell', ['bash', 'zsh']))
    .action(
      act(async (shell: string) => {
        process.stdout.write(shell === 'bash' ? bashScript(program) : zshScript(program));
      }),
    );
}
