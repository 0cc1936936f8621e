// Linear and Conv2d on a CUDA device (skipped, saying why, where CUDA is unusable): results
// against the float64 reference, pending calls moved by to(), and device mismatches.
import { expect } from 'chai';
import { Conv2d, Linear, Tensor, backendInfo } from '../../lib/index.js';
import { uniform } from '../support/random.js';
import { assertClose, conv2dBackRef, conv2dRef, linearBackRef, linearRef, outSize } from '../support/reference-nn.js';

describe('Linear and Conv2d on CUDA', function () {
  before(function () {
    const c = backendInfo().cuda;
    if (!c.available) {
      console.log(`      skipped: CUDA is not usable here (${c.code}: ${c.reason})`);
      this.skip();
    }
  });

  it('Linear: forward and every gradient on the device match the reference', () => {
    const M = 37,
      K = 45,
      N = 300;
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 2, device: 'cuda' });
    const x = uniform(1, M * K, -1, 1),
      g = uniform(2, M * N, -1, 1);
    const W = layer.weight.toFloat32Array(),
      b = layer.bias!.toFloat32Array();
    const y = layer.forward(Tensor.from(x, [M, K], { device: 'cuda' }));
    expect(y.device).to.equal('cuda:0');
    assertClose(y.toFloat32Array(), linearRef(x, M, K, W, N, b), 'output');
    const dx = layer.backward(Tensor.from(g, [M, N], { device: 'cuda' }));
    const ref = linearBackRef(g, x, M, K, W, N);
    assertClose(dx.toFloat32Array(), ref.dx, 'input gradient');
    assertClose(layer.weight.grad!.toFloat32Array(), ref.dW, 'weight gradient');
    expect(layer.weight.grad!.device).to.equal('cuda:0');
    assertClose(layer.bias!.grad!.toFloat32Array(), ref.db, 'bias gradient');
  });

  it('Conv2d: forward and every gradient on the device match the reference', () => {
    const geom = { N: 3, C: 2, H: 9, W: 7, O: 5, kH: 3, kW: 3, sH: 2, sW: 1, pH: 1, pW: 1 };
    const layer = new Conv2d({
      inChannels: 2,
      outChannels: 5,
      kernelSize: 3,
      stride: [2, 1],
      padding: 1,
      seed: 3,
      device: 'cuda',
    });
    const [Ho, Wo] = outSize(geom);
    const x = uniform(1, 3 * 2 * 9 * 7, -1, 1),
      g = uniform(2, 3 * 5 * Ho * Wo, -1, 1);
    const W = layer.weight.toFloat32Array(),
      b = layer.bias!.toFloat32Array();
    const y = layer.forward(Tensor.from(x, [3, 2, 9, 7], { device: 'cuda' }));
    assertClose(y.toFloat32Array(), conv2dRef(x, geom, W, b), 'output');
    const dx = layer.backward(Tensor.from(g, y.shape, { device: 'cuda' }));
    const ref = conv2dBackRef(g, x, geom, W);
    assertClose(dx.toFloat32Array(), ref.dx, 'input gradient');
    assertClose(layer.weight.grad!.toFloat32Array(), ref.dW, 'weight gradient');
    assertClose(layer.bias!.grad!.toFloat32Array(), ref.db, 'bias gradient');
  });

  it('to() moves pending calls both ways; inputs on another device are a TypeError naming both', () => {
    const M = 6,
      K = 8,
      N = 4;
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 4 });
    const x = uniform(1, M * K, -1, 1),
      g = uniform(2, M * N, -1, 1);
    layer.forward(Tensor.from(x, [M, K]));
    layer.to('cuda');
    expect(() => layer.forward(Tensor.from(x, [M, K]))).to.throw(
      TypeError,
      /input is on cpu but the layer is on cuda:0/,
    );
    const dx = layer.backward(Tensor.from(g, [M, N], { device: 'cuda' }));
    const ref = linearBackRef(g, x, M, K, layer.weight.toFloat32Array(), N);
    assertClose(dx.toFloat32Array(), ref.dx, 'input gradient after cpu -> cuda');
    layer.forward(Tensor.from(x, [M, K], { device: 'cuda' }));
    layer.to('cpu');
    layer.zeroGrad();
    layer.backward(Tensor.from(g, [M, N]));
    assertClose(layer.weight.grad!.toFloat32Array(), ref.dW, 'weight gradient after cuda -> cpu');
  });
});
