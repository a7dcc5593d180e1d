// CPU and heap measurements, run by run.mjs in a fresh process (node --expose-gc) so that the
// latency runs' heap (dynalite's tables live in this same process there) does not tax their GC.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { measureCpu } from './lib/cpu.mjs';
import { measureHeap } from './lib/heap.mjs';

const [cpuCalls, heapFlows] = process.argv.slice(2).map(Number);
const cpu = await measureCpu(cpuCalls);
const heap = await measureHeap(heapFlows);
process.stdout.write(JSON.stringify({ cpu: [...cpu], heap: [...heap] }));
