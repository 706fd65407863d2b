/** qxctl entry point (run by bin/qxctl through tsx). */
import { run } from './app.js';
import type { Io } from './command.js';

const io: Io = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stderr.isTTY),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  terminalIn: process.stdin,
  terminalOut: process.stdout,
};

// `qxctl get vm | head -1`: a closed pipe ends the run quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await run(process.argv.slice(2), { io });
// Watches and keep-alive connections would keep the event loop alive: exit explicitly,
// once stdout has drained.
process.stdout.write('', () => process.exit(code));
