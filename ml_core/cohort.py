"""Several runs of one network shape trained together: each step one set of stacked NumPy calls.

Why: a step of the playground's circle net (2-4-2-1) is ~25 NumPy calls on arrays of a few
dozen numbers, so it costs the calls' overhead (1-3 µs each), not their flops. A worker playing
a class's sessions of the same net spends almost all its time in that overhead. Stacked, S
runs take a step in the same ~25 calls on (S, B, n) arrays: per-member parameters (S, P), each
layer's [W | b] as (S, n_out, n_in + 1) views of them, batched ``np.matmul``, the learning rate
and weight decay as (S, 1) columns, momentum and Adam's moments stacked the same way.

Everything else stays each member's own and comes out as if it had been stepped alone
(tests/ml_core/test_cohort.py): its data, its shuffle (a new permutation from its own generator
at each of its epoch starts, wherever the others are in theirs), its counters and last batch,
and its divergence watch (``MLPRun.step``): the steps go in blocks that end where any member's
look at the loss is due; after each block the members due are written back (engine state and
counters: plain runs again) and run their own ``_check``; the others stay stacked until the call
ends. A member that diverges there stands where it would alone and leaves; the others go on.

Members must share ``signature``: a ``FastMLP`` engine (no batch norm, dropout or RReLU) without
learnt slopes (PReLU), and the same layer sizes, activation, task, loss, optimizer, batch size
and number of training points (so the same batch bounds). A short last batch of an epoch is
padded to the batch size with rows of zero weight in the loss.
"""

from __future__ import annotations

import time
from itertools import pairwise

import numpy as np

from ml_core.fastmlp import FastMLP
from ml_core.mlp import HUBER_DELTA
from ml_core.mlp_run import MLPRun
from ml_core.training import ADAM_BETAS, ADAM_EPS, MOMENTUM, Diverged, checkpoint

CHUNK_MAX = 256  # most steps between two looks at the clock (as MLPRun.train_for)


def signature(run: MLPRun) -> tuple | None:
    """What runs must share to be stepped together; None when the run cannot join a cohort."""
    engine = run.engine
    if not isinstance(engine, FastMLP) or engine.ops.learnt or not run.steps_per_epoch:
        return None
    model, train = run.config.model, run.config.training
    return (
        engine.sizes, model.activation, engine.task, engine.loss, engine.optimizer,
        train.batch_size, run.n_train,
    )


def _row_scale(loss: str, task: str, n_out: int, rows: int) -> float:
    """The factor a row's loss gradient gets in a batch of ``rows`` (FastMLP._dlogits's)."""
    if task == "regression":
        return (2.0 if loss == "mse" else 1.0) / rows
    if loss == "hinge":
        return -1.0 / rows if n_out == 1 else 1.0 / (n_out * rows)
    if loss == "cross_entropy":
        return 1.0 / rows
    return (2.0 if loss == "mse" else 1.0) / (rows * n_out)


class Cohort:
    """Runs of one ``signature`` stepped together (``step``, ``train_for``)."""

    def __init__(self, runs: list[MLPRun]) -> None:
        keys = {signature(run) for run in runs}
        if len(keys) != 1 or None in keys:
            raise ValueError("a cohort's runs need one signature (see ml_core.cohort.signature)")
        first = runs[0].engine
        self.sizes, self.loss, self.task = first.sizes, first.loss, first.task
        self.optimizer, self.ops = first.optimizer, first.ops
        self.bounds = runs[0].batches  # (start, stop) of each batch of an epoch, for every member
        self.batch = max(stop - start for start, stop in self.bounds)
        lengths = [stop - start for start, stop in self.bounds]
        self.uniform = len(set(lengths)) == 1  # no short last batch: one scale for every row
        n_out = self.sizes[-1]
        # rows[i, b]: the row of the epoch's order for row b of batch i; short batches repeat
        # their last row (a real point, so as finite as the others), with scale 0
        self.rows = np.array(
            [[start + min(b, stop - start - 1) for b in range(self.batch)]
             for start, stop in self.bounds], np.intp,
        )  # (nb, B)
        self.scales = np.array(
            [[_row_scale(self.loss, self.task, n_out, stop - start) if b < stop - start else 0.0
              for b in range(self.batch)] for start, stop in self.bounds], np.float32,
        )  # (nb, B)
        self._stack(runs)

    # --- the stacked state ------------------------------------------------------------------
    def _stack(self, runs: list[MLPRun]) -> None:
        """Stack the members' parameters, optimizer state and data; buffers for S members."""
        self.runs = runs
        S, f32 = len(runs), np.float32
        self.unsaved = [0] * S  # steps each member took since its last write-back
        engines = [run.engine for run in runs]
        self.P = np.stack([e.flat for e in engines])  # (S, P) every member's parameters
        self.G = np.zeros_like(self.P)  # their gradients
        self.tmp = np.zeros_like(self.P)
        self.M = np.stack([e.buf for e in engines])  # momentum / Adam's first moment
        self.V = np.stack([e.sq for e in engines])  # Adam's second moment
        self.t = np.array([[e.t] for e in engines], np.float64)  # (S, 1) Adam's steps
        self.rate = np.array([[e.lr] for e in engines], np.float64)  # (S, 1) as configured
        self.lr = self.rate.astype(f32)  # as a float32 op sees it
        self.wd = np.array([[e.wd] for e in engines], f32)
        self.decay = bool(self.wd.any())
        self.Wa, self.gWa, offset = [], [], 0
        for i, o in pairwise(self.sizes):
            n = o * (i + 1)
            self.Wa.append(self.P[:, offset : offset + n].reshape(S, o, i + 1))  # views
            self.gWa.append(self.G[:, offset : offset + n].reshape(S, o, i + 1))
            offset += n
        # Per member the matmuls see exactly the matrices FastMLP's do, in the same layout,
        # so BLAS adds up in the same order and a member's numbers come out as alone.
        self.WaT = [w.transpose(0, 2, 1) for w in self.Wa]  # (S, n_in + 1, n_out)
        n = runs[0].n_train
        self.X = np.concatenate([e.X for e in engines])  # (S * N, F + 1) in each one's order
        self.T = np.concatenate([e.T for e in engines])  # (S * N, n_out)
        self.offsets = (np.arange(S) * n)[:, None]  # (S, 1) each member's first row
        self.pos = np.array([run._batch for run in runs], np.intp)  # (S,) next batch (nb: new)
        self.until_epoch = len(self.bounds) - int(self.pos.max())  # steps before a member's end
        B, layers = self.batch, self.sizes[1:]
        self.idx = np.empty((S, B), np.intp)
        self.xb = np.empty((S, B, self.sizes[0] + 1), f32)  # the batch, with a ones column
        self.tb = np.empty((S, B, layers[-1]), f32)  # its targets
        self.wb = np.empty((S, B, 1), f32)  # each row's scale in the loss's gradient
        if self.uniform:
            self.wb[...] = self.scales[0][:, None]
        self.z = [np.empty((S, B, n), f32) for n in layers]  # pre-activations
        self.ha = [np.ones((S, B, n + 1), f32) for n in layers[:-1]]  # outputs, ones column
        self.h = [ha[..., :-1] for ha in self.ha]
        self.dz = [np.empty((S, B, n), f32) for n in layers]
        self.dzT = [dz.transpose(0, 2, 1) for dz in self.dz]  # (S, n, B)
        self.dha = [np.empty((S, B, n + 1), f32) for n in layers[:-1]]
        self.dh = [dha[..., :-1] for dha in self.dha]
        self.work = [np.empty((S, B, n), f32) for n in layers]
        self.mask = [np.empty((S, B, n), bool) for n in layers]
        self.count = np.empty((S, B, 1), f32)

    def _new_epochs(self) -> None:
        """Members at the end of an epoch draw their next order, as ``MLPRun._advance`` does."""
        nb, n = len(self.bounds), self.runs[0].n_train
        for s in np.flatnonzero(self.pos == nb):
            run = self.runs[s]
            run._order = run._shuffle.permutation(run.n_train)
            run.engine.permute(run._order)
            self.X[s * n : (s + 1) * n] = run.engine.X
            self.T[s * n : (s + 1) * n] = run.engine.T
            self.pos[s] = 0
        self.until_epoch = nb - int(self.pos.max())

    def _write_back(self, members: list[int] | range) -> None:
        """The stacked state and the steps taken since the last write-back into ``members``
        (indices): their engines and counters, so that they are plain runs again."""
        nb, bounds = len(self.bounds), self.bounds
        for s in members:
            run, steps = self.runs[s], self.unsaved[s]
            if not steps:
                continue
            self.unsaved[s] = 0
            engine, at = run.engine, int(self.pos[s])
            engine.flat[:] = self.P[s]
            if self.optimizer != "sgd":
                engine.buf[:] = self.M[s]
            if self.optimizer == "adam":
                engine.sq[:] = self.V[s]
                engine.t = int(self.t[s, 0])
            started = 0 if run._batch == nb else run._batch  # where its steps began in an epoch
            run.epochs += (started + steps) // nb
            run.steps += steps
            run._batch, run._last = at, bounds[at - 1]
            engine._last_batch = run._last  # and its logits, for ``batch_loss``
            rows = run._last[1] - run._last[0]
            engine._buffers_for(rows).z[-1][...] = self.z[-1][s, :rows]

    # --- steps ------------------------------------------------------------------------------
    def _advance(self, steps: int) -> None:
        """``steps`` steps of every member (no looks at the loss), in the stacked state."""
        if steps <= 0:
            return
        with np.errstate(all="ignore"):  # overflow turns into inf, caught by the checks
            for _ in range(steps):
                if self.until_epoch == 0:
                    self._new_epochs()
                np.take(self.rows, self.pos, axis=0, out=self.idx)
                self.idx += self.offsets
                np.take(self.X, self.idx, axis=0, out=self.xb)  # (S, B, F + 1)
                np.take(self.T, self.idx, axis=0, out=self.tb)  # (S, B, n_out)
                if not self.uniform:
                    np.take(self.scales, self.pos, axis=0, out=self.wb[..., 0])
                self._backward()
                self._update()
                self.pos += 1
                self.until_epoch -= 1
        self.unsaved = [n + steps for n in self.unsaved]

    def _backward(self) -> None:
        """Every member's gradient on its batch into G (FastMLP._backward, stacked)."""
        forward, derivative, slope = self.ops.forward, self.ops.derivative, self.ops.slope
        last = len(self.Wa) - 1
        ha = self.xb
        for j, WaT in enumerate(self.WaT):
            np.matmul(ha, WaT, out=self.z[j])  # (S, B, n_j) = [h, 1] @ [W | b].T
            if j == last:
                break
            forward(self.z[j], self.h[j], self.mask[j], slope)
            ha = self.ha[j]
        self._dlogits()
        for j in range(last, -1, -1):
            below = self.xb if j == 0 else self.ha[j - 1]
            np.matmul(self.dzT[j], below, out=self.gWa[j])  # [dW | db] (S, n_j, n_{j-1} + 1)
            if j == 0:
                break
            k = j - 1
            np.matmul(self.dz[j], self.Wa[j], out=self.dha[k])  # the last column is unused
            derivative(
                self.dh[k], self.z[k], self.h[k], self.mask[k], slope, self.work[k], self.dz[k]
            )

    def _dlogits(self) -> None:
        """dLoss/dlogits (S, B, n_out) into dz[-1]: each row's gradient times its scale."""
        z, T, w = self.z[-1], self.tb, self.wb
        dz, tmp, mask, n_out = self.dz[-1], self.work[-1], self.mask[-1], self.sizes[-1]
        if self.task == "regression":
            np.subtract(z, T, out=dz)
            if self.loss == "l1":
                np.sign(dz, out=dz)
            elif self.loss == "huber":
                np.clip(dz, -HUBER_DELTA, HUBER_DELTA, out=dz)
            dz *= w
            return
        if self.loss == "hinge" and n_out == 1:  # the sign s = 2t - 1, where s z < 1
            signs = 2.0 * T - 1.0
            np.multiply(signs, z, out=tmp)
            np.less(tmp, 1.0, out=mask)
            np.multiply(signs, mask, out=dz)
            dz *= w
            return
        if self.loss == "hinge":
            zy = np.sum(np.multiply(z, T, out=tmp), axis=-1, keepdims=True)  # (S, B, 1)
            np.subtract(z, zy, out=tmp)
            np.greater(tmp, -1.0, out=mask)
            mask &= T == 0
            np.multiply(mask, w, out=dz)
            np.sum(dz, axis=-1, keepdims=True, out=self.count)
            np.multiply(T, self.count, out=tmp)
            dz -= tmp
            return
        p = tmp
        if n_out == 1:
            np.negative(z, out=p)
            np.exp(p, out=p)
            p += 1.0
            np.reciprocal(p, out=p)
        else:
            np.subtract(z, z.max(axis=-1, keepdims=True), out=p)
            np.exp(p, out=p)
            p /= p.sum(axis=-1, keepdims=True)
        np.subtract(p, T, out=dz)
        if self.loss == "l1":
            np.sign(dz, out=dz)
        dz *= w
        if self.loss == "cross_entropy":
            return
        if n_out == 1:
            dz *= p
            dz -= dz * p
        else:
            dz -= np.sum(dz * p, axis=-1, keepdims=True)
            dz *= p

    def _update(self) -> None:
        """PyTorch's SGD / momentum / Adam step, each member at its own rate and decay."""
        g, tmp = self.G, self.tmp
        if self.decay:  # a member without decay adds P * 0: its gradient as it is
            np.multiply(self.P, self.wd, out=tmp)
            tmp += self.G
            g = tmp
        if self.optimizer == "sgd":
            np.multiply(g, self.lr, out=tmp)
        elif self.optimizer == "momentum":
            self.M *= MOMENTUM
            self.M += g
            np.multiply(self.M, self.lr, out=tmp)
        else:
            beta1, beta2 = ADAM_BETAS
            self.t += 1.0
            self.M += (1.0 - beta1) * (g - self.M)
            self.V *= beta2
            self.V += (1.0 - beta2) * g * g
            step_size = (self.rate / (1.0 - beta1**self.t)).astype(np.float32)
            root = np.sqrt(1.0 - beta2**self.t).astype(np.float32)
            denom = np.sqrt(self.V) / root + ADAM_EPS
            np.divide(self.M, denom, out=tmp)
            tmp *= step_size
        self.P -= tmp

    # --- what the members see ---------------------------------------------------------------
    def step(self, steps: int) -> dict[MLPRun, Diverged]:
        """``steps`` steps of every member, as ``MLPRun.step(steps, settle=False)`` would take
        them, looks at the loss included; the members that diverged (they stand where they
        would alone and leave the cohort)."""
        diverged: dict[MLPRun, Diverged] = {}
        left = steps
        try:
            while left > 0 and self.runs:
                for run in self.runs:  # written back at their last look (or never stepped)
                    if run._since_check == 0:
                        run._before = run._position()
                block = min(left, *(run._check_every - run._since_check for run in self.runs))
                self._advance(block)
                left -= block
                due = []
                for s, run in enumerate(self.runs):
                    run._since_check += block
                    if run._since_check >= run._check_every:
                        run._since_check = 0
                        due.append(s)
                self._write_back(due)  # only those that look now: the others go on stacked
                for s in due:
                    run = self.runs[s]
                    try:
                        run._check(run._before)
                    except Diverged as exc:
                        diverged[run] = exc
                if diverged.keys() & set(self.runs):
                    self._write_back(range(len(self.runs)))
                    self._stack([run for run in self.runs if run not in diverged])
        finally:  # a cancel (from a replay's checkpoint) too leaves every member consistent
            self._write_back(range(len(self.runs)))
        return diverged

    def train_for(self, budget_s: float) -> dict[MLPRun, Diverged]:
        """Play: every member trains for about ``budget_s`` seconds of the cohort's time (in
        chunks of whole steps sized from the measured cost of a stacked step); the members
        that diverged."""
        runs, diverged = list(self.runs), {}
        start = now = time.perf_counter()
        for run in runs:
            run._rate_begin(start)
        chunk, done = 1, 0
        while self.runs:
            diverged.update(self.step(chunk))
            done += chunk
            now = time.perf_counter()
            if now - start >= budget_s:
                break
            checkpoint()
            per_step = (now - start) / done
            chunk = max(1, min(CHUNK_MAX, int((budget_s - (now - start)) / per_step / 2)))
        for run in runs:
            if run not in diverged:
                run._rate_end(now)
        return diverged
