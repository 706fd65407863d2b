import { answerBefore } from './virsh-shell.js';

describe('answerBefore (the virsh shell)', () => {
  const banner = "Welcome to virsh, the virtualization interactive terminal.\n\nType:  'help' for help with commands\n       'quit' to quit\n\n";

  it('the lines virsh printed before the marker, without the prompt lines; the rest is kept for the next command', () => {
    const buffer = `${banner}virsh # list --all\n Id   Name   State\n--------------------\n 3    run_a  running\n\nvirsh # echo __m1__\n__m1__\nvirsh # domstate`;
    const found = answerBefore(buffer, '__m1__');
    expect(found?.answer).toContain(' 3    run_a  running');
    expect(found?.answer).not.toContain('virsh #');
    expect(found?.rest).toBe('virsh # domstate');
  });

  it('nothing until the marker has arrived on a line of its own', () => {
    expect(answerBefore('virsh # domstate --reason x\npaused (starting up)\n\nvirsh # echo __m2__\n__m2', '__m2__')).toBeUndefined();
    expect(answerBefore('virsh # echo __m21__\n__m21__\n', '__m2__')).toBeUndefined();
  });

  it('a command that failed (its error on stderr) answers nothing', () => {
    expect(answerBefore('virsh # pool-info nosuch\n\nvirsh # echo __m3__\n__m3__\n', '__m3__')?.answer.trim()).toBe('');
  });
});
