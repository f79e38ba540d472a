// What machine and runtime the figures come from.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
}

export function readMachineInfo(): MachineInfo {
  let nproc = os.availableParallelism();
  try {
    // --all: the harness pins itself to one core, and plain nproc would then say 1.
    nproc = Number(execFileSync('nproc', ['--all'], { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep os.availableParallelism()
  }
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  return {
    nproc,
    cpuModel,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}
