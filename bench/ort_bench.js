#!/usr/bin/env node
// onnxruntime-node's CPU forward speed on an ONNX file, the reference of
// bench/onnx_bench.sh. Usage: ort_bench.js MODEL.onnx BATCH THREADS [RUNS]
// Prints one JSON line {"engine", "batch", "threads", "images_per_s"}: the best
// of RUNS timed runs after one warm-up run, on a fixed pseudo-random input.
// onnxruntime-node is looked up on NODE_PATH (bench/onnx_bench.sh points it
// at tools/ci/node_modules).
'use strict';
const ort = require('onnxruntime-node');

async function main() {
    const [file, batchArg, threadsArg, runsArg] = process.argv.slice(2);
    const batch = Number(batchArg), threads = Number(threadsArg), runs = Number(runsArg || 5);
    // One thread pool of `threads` for the operators, none between them, as
    // PyTorch and finetuned run.
    const session = await ort.InferenceSession.create(file, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all'});
    const [name] = session.inputNames;
    const data = new Float32Array(batch * 3 * 224 * 224);
    let s = 1;
    for (let i = 0; i < data.length; i++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        data[i] = s / 1073741824 - 1;
    }
    const feeds = {[name]: new ort.Tensor('float32', data, [batch, 3, 224, 224])};
    await session.run(feeds);
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
        const t = process.hrtime.bigint();
        await session.run(feeds);
        best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    }
    console.log(JSON.stringify({engine: 'onnxruntime-node ' + require('onnxruntime-node/package.json').version,
                                batch, threads, images_per_s: batch / best}));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
