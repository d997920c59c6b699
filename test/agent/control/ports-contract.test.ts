import { MemoryCompute, MemoryEndpoint } from '../../../agent/control/memory-ports.js';
import { computeContract, endpointContract } from './ports-contract.js';

computeContract('memory', () => ({ compute: new MemoryCompute([], { instances: { 'i-1': 'running' } }), running: 'i-1' }));
endpointContract('memory', () => new MemoryEndpoint());
