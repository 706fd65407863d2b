/// <reference types="novnc__novnc" />
// @types/novnc__novnc describes noVNC's old CommonJS path `@novnc/novnc/lib/rfb`; the ESM
// package (1.5+) exports the same RFB class as its root.
declare module '@novnc/novnc' {
  import RFB from '@novnc/novnc/lib/rfb';
  export default RFB;
}
