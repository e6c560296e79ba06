// Runs an ONNX model in ONNX Runtime (onnxruntime-node) on one raw input tensor: the independent runner the
// export tests compare our writer's files against.
//   node ort_run.js MODEL.onnx INPUT.bin DIMS DTYPE OUTPUT.bin
// DIMS "1,3,640,640"; DTYPE float32 | float16 (raw little-endian values, fp16 as IEEE half bits).
// Writes the first output's raw bytes to OUTPUT.bin and prints {"dims", "type", "inputs", "outputs"} as JSON.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inPath, dimsArg, dtype, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: node ort_run.js MODEL INPUT.bin DIMS DTYPE OUTPUT.bin');
  const dims = dimsArg.split(',').map(Number);
  const buf = fs.readFileSync(inPath);
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = dtype === 'float16' ? new Uint16Array(bytes) : new Float32Array(bytes);
  // One thread: the comparison should not depend on how the machine's 2 cores are shared.
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const feeds = {[session.inputNames[0]]: new ort.Tensor(dtype, data, dims)};
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  const d = out.data;
  fs.writeFileSync(outPath, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  console.log(JSON.stringify({dims: out.dims, type: out.type, inputs: session.inputNames, outputs: session.outputNames}));
}

main().catch((e) => {
  console.error('ort_run: ' + (e && e.message ? e.message : String(e)));
  process.exit(1);
});
