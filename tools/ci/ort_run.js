#!/usr/bin/env node
// node tools/ci/ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 [threads]
// Runs an ONNX model with onnxruntime-node (CPU) on raw little-endian float32
// samples of the model's input shape ([N, ...] with N free) and writes its
// first output the same way: the independent check of our ONNX import
// (tests/api/test_onnx_networks.py).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main([model, input, output, threads]) {
  if (!output) {
    console.error('usage: ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 [threads]');
    process.exit(2);
  }
  const n = Number(threads || 1);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: n, interOpNumThreads: 1 });
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  // Per-sample shape from the model's declared input dims (the batch is free).
  const dims = meta && meta.shape ? meta.shape.slice(1) : [3, 224, 224];
  const per = dims.reduce((a, b) => a * b, 1);
  if (data.length % per) throw new Error(`${input}: not a whole number of ${per}-float samples`);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [data.length / per, ...dims]) };
  const result = await session.run(feeds);
  const out = result[session.outputNames[0]].data;
  fs.writeFileSync(output, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`ort_run.js: ${e.message}`);
  process.exit(1);
});
