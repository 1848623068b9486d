"""The training loop: recorded gradient statistics, determinism, schedules, optimisers, resume, divergence."""

import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_data
from torch import nn

from vanishing_gradients import checkpoints, job, specs, training
from vanishing_gradients.callbacks import BestEpoch, Callback, epoch_record
from vanishing_gradients.gradstats import GradientRecorder, SaturationMonitor, epochs_frame, norms, steps_frame
from vanishing_gradients.measures import grad_ratio
from vanishing_gradients.models import MLP
from vanishing_gradients.specs import ModelSpec, Stage, TrainSpec, stages


class Killed(Exception):
    """A job killed in the middle of a run."""


class KillAt(Callback):
    """Kills the run at the end of the epoch that ``when(row)`` picks (stage and epoch of the run), before that
    epoch's checkpoint: the last one on disk is the epoch before."""

    def __init__(self, when):
        self.when = when

    def epoch_done(self, row, records):
        if self.when(row):
            raise Killed


def small_spec(**overrides):
    settings = {"model": ModelSpec(depth=3, width=16), "batch_size": 64, "epochs": 2, "seed": 7, **overrides}
    return TrainSpec(**settings)


def test_recorder_matches_autograd():
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=3, width=8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    recorder = GradientRecorder()
    recorder.start_epoch(model)
    expected_norms, expected_abs, expected_ratio = [], [], []
    for _ in range(3):
        x, y = torch.rand(10, 784), torch.randint(0, 10, (10,))
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        weights = [lin.weight for _, lin in model.linears()]
        expected_norms.append([w.grad.norm().item() for w in weights])
        expected_abs.append([w.grad.abs().mean().item() for w in weights])
        before = [w.detach().clone() for w in weights]
        recorder.before_step()
        optimizer.step()
        recorder.after_step()
        expected_ratio.append([((w - b).norm() / b.norm()).item() for w, b in zip(weights, before, strict=True)])
    records = recorder.end_epoch(model, {})
    names = [*GradientRecorder.statistics, "saturation"]
    saturation = {"layers": ["hidden1"], "saturation": torch.tensor([0.25])}
    record = epoch_record(
        ["hidden1", "hidden2", "hidden3", "output"], names, [recorder.epoch_statistics(model), saturation]
    )
    steps = steps_frame([{"stage": 1, "epoch": 1, **records["grad_steps"]}])
    epochs = epochs_frame([{"stage": 1, "epoch": 1, **record}])
    assert list(steps["step"].unique()) == [0, 1, 2]
    got = steps.pivot(index="step", columns="layer", values="grad_norm")[["hidden1", "hidden2", "hidden3", "output"]]
    assert got.to_numpy() == pytest.approx(np.array(expected_norms), rel=1e-5)
    assert set(epochs.query("statistic == 'saturation'")["layer"]) == {"hidden1"}
    epochs = epochs.set_index(["layer", "statistic"])["value"]
    names = ["hidden1", "hidden2", "hidden3", "output"]
    for i, name in enumerate(names):
        assert epochs[(name, "grad_abs_mean")] == pytest.approx(sum(r[i] for r in expected_abs) / 3, rel=1e-5)
        assert epochs[(name, "update_ratio")] == pytest.approx(sum(r[i] for r in expected_ratio) / 3, rel=1e-4)
        assert epochs[(name, "grad_norm")] == pytest.approx(sum(r[i] for r in expected_norms) / 3, rel=1e-5)
    assert epochs[("output", "weight_norm")] == pytest.approx(model.head.weight.norm().item(), rel=1e-6)
    assert epochs[("hidden1", "saturation")] == 0.25


def test_recorder_every_k_steps():
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=1, width=4))
    recorder = GradientRecorder(step_every=3)
    recorder.start_epoch(model)
    for _ in range(7):
        model.zero_grad()
        model(torch.rand(2, 784)).sum().backward()
        recorder.before_step()
        recorder.after_step()
    records = recorder.end_epoch(model, {})
    assert records["grad_steps"]["steps"].tolist() == [0, 3, 6] and records["grad_steps"]["grad_norm"].shape == (3, 2)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_saturation_monitor_counts_saturated_or_dead_units(activation):
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=2, width=8, activation=activation, init="normal", init_std=2.0)).eval()
    x = torch.rand(50, 784)
    monitor = SaturationMonitor()
    hooks = monitor.evaluation_hooks(model)
    with torch.no_grad():
        for chunk in x.split(20):  # counted over several chunks, as the validation pass does
            model(chunk)
    for hook in hooks:
        hook.remove()
    h1 = model.hidden[0](x)
    outs = {"hidden1": h1, "hidden2": model.hidden[1](h1)}
    for name, out in outs.items():
        if activation == "sigmoid":
            expected = ((out - 0.5).abs() > 0.49).float().mean()
        elif activation == "tanh":
            expected = (out.abs() > 0.99).float().mean()
        else:
            expected = 1 - (out > 0).any(0).float().mean()
        assert monitor.fractions()[name] == pytest.approx(expected.item()), name
    values = monitor.epoch_statistics(model)
    assert values["layers"] == ["hidden1", "hidden2"]  # hidden layers only: no output row
    assert values["saturation"].tolist() == pytest.approx([monitor.fractions()[n] for n in values["layers"]])


def test_a_callback_sees_every_step_and_epoch_and_can_add_to_the_metrics():
    class Counter(Callback):
        steps = epochs = 0

        def after_step(self):
            self.steps += 1

        def end_epoch(self, model, row):
            self.epochs += 1
            row["weight_sum"] = float(sum(p.detach().sum() for p in model.parameters()))

    counter = Counter()
    spec = small_spec()
    _, run = training.train(spec, tiny_data(n_train=200), log=lambda m: None, callbacks=[counter])
    assert counter.steps == spec.epochs * 4 and counter.epochs == spec.epochs  # 200 samples in batches of 64
    assert all("weight_sum" in row for row in run.metrics)


def test_any_callback_can_end_a_stage_and_the_trainer_says_why():
    class TwoEpochsAStage(Callback):
        def start_stage(self, index):
            self.done = 0

        def stop_reason(self):
            return "two epochs are enough" if self.done >= 2 else None

        def epoch_done(self, row, records):
            self.done += 1

    messages = []
    spec = small_spec(model=ModelSpec(depth=3, width=16), schedule=(1, 2), epochs=4)
    _, run = training.train(spec, tiny_data(), log=messages.append, callbacks=[TwoEpochsAStage()])
    assert [m["stage"] for m in run.metrics] == [1, 1, 2, 2, 3, 3] and run.stopped_early
    assert "two epochs are enough: stage 3 ends early" in messages


def test_statistics_come_from_the_callbacks_and_each_is_declared_once():
    class Twice(Callback):
        statistics: ClassVar[dict[str, str]] = {"saturation": "a second saturation"}

    class Undeclared(Callback):
        statistics: ClassVar[dict[str, str]] = {"declared": "one value per layer"}

        def epoch_statistics(self, model):
            return {"layers": ["output"], "declared": [1.0], "other": [2.0]}

    spec, data = small_spec(epochs=1), tiny_data()
    _, run = training.train(spec, data, log=lambda m: None)
    assert list(run.statistics) == [*GradientRecorder.statistics, *SaturationMonitor.statistics]
    assert list(run.frame("grad_epochs")["statistic"].unique()) == list(run.statistics)
    with pytest.raises(ValueError, match="two callbacks declare the statistic 'saturation'"):
        training.train(spec, data, log=lambda m: None, callbacks=[Twice()])
    with pytest.raises(ValueError, match="'other', which no callback declares"):
        training.train(spec, data, log=lambda m: None, callbacks=[Undeclared()])


def test_same_seed_gives_identical_results_and_other_seed_differs():
    data = tiny_data()
    _, a = training.train(small_spec(), data, log=lambda m: None)
    _, b = training.train(small_spec(), data, log=lambda m: None)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(a.metrics) == drop(b.metrics)
    pd.testing.assert_frame_equal(a.frame("grad_steps"), b.frame("grad_steps"))
    pd.testing.assert_frame_equal(a.frame("grad_epochs"), b.frame("grad_epochs"))
    assert (a.test_loss, a.test_acc) == (b.test_loss, b.test_acc)
    _, c = training.train(
        TrainSpec(model=ModelSpec(depth=3, width=16), batch_size=64, epochs=2, seed=8), data, log=lambda m: None
    )
    assert drop(c.metrics) != drop(a.metrics)


def test_metrics_are_averaged_over_the_whole_validation_set():
    data = tiny_data(n_val=70)
    model, run = training.train(small_spec(), data, log=lambda m: None)
    x = data["validation"].images.float() / 255
    with torch.no_grad():
        logits = model.eval()(x)
    assert run.metrics[-1]["val_loss"] == pytest.approx(
        nn.functional.cross_entropy(logits, data["validation"].labels).item(), rel=1e-5
    )
    assert run.metrics[-1]["val_acc"] == pytest.approx(
        (logits.argmax(1) == data["validation"].labels).float().mean().item()
    )


def test_adam_is_the_optimizer_when_asked(monkeypatch):
    made = []
    real = dict(training.OPTIMIZER_CLASSES)
    for name, cls in real.items():
        monkeypatch.setitem(
            training.OPTIMIZER_CLASSES,
            name,
            lambda params, lr, cls=cls, **kw: made.append(cls(params, lr=lr, **kw)) or made[-1],
        )
    training.train(small_spec(optimizer="adam", lr=0.001), tiny_data(), log=lambda m: None)
    assert [type(o) for o in made] == [torch.optim.Adam] and made[0].defaults["lr"] == 0.001
    made.clear()
    training.train(small_spec(), tiny_data(), log=lambda m: None)
    assert type(made[0]) is torch.optim.SGD and made[0].defaults["momentum"] == 0


@pytest.mark.parametrize("norm", ["none", "standardize"])
def test_evaluation_does_not_depend_on_the_chunk_size(norm, monkeypatch):
    """Standardize normalises over the batch even in eval mode: its split is evaluated in one piece."""
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=3, width=16, norm=norm)).eval()
    split = tiny_data()["validation"]
    with torch.inference_mode():
        logits = model(training.pixels(split.images))
    whole = nn.functional.cross_entropy(logits, split.labels).item()
    monkeypatch.setattr(training, "EVAL_BATCH", 7)
    loss, acc = training.evaluate(model, split.images, split.labels)
    assert loss == pytest.approx(whole, rel=1e-5)
    assert acc == (logits.argmax(1) == split.labels).float().mean().item()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_foreach_optimizer_gives_the_same_weights_as_the_default_loop(optimizer, monkeypatch):
    """The trainer asks for foreach updates (faster on the CPU); they must not change a single bit."""
    _, fast = training.train(small_spec(optimizer=optimizer, lr=0.01), tiny_data(), log=lambda m: None)
    real = training.OPTIMIZER_CLASSES[optimizer]
    monkeypatch.setitem(
        training.OPTIMIZER_CLASSES, optimizer, lambda params, lr, foreach: real(params, lr=lr, foreach=False)
    )
    _, loop = training.train(small_spec(optimizer=optimizer, lr=0.01), tiny_data(), log=lambda m: None)
    assert [(m["train_loss"], m["val_loss"]) for m in fast.metrics] == [
        (m["train_loss"], m["val_loss"]) for m in loop.metrics
    ]
    assert (fast.test_loss, fast.test_acc) == (loop.test_loss, loop.test_acc)


def test_course_schedule_has_seven_stages():
    spec = TrainSpec(model=ModelSpec(depth=7), schedule=(2, 2, 2, 1))
    assert stages(spec) == [
        Stage(2, 0, True),
        Stage(4, 2, True),
        Stage(4, 0, False),
        Stage(6, 4, True),
        Stage(6, 0, False),
        Stage(7, 6, True),
        Stage(7, 0, False),
    ]
    with pytest.raises(ValueError, match="summing to depth 7"):
        TrainSpec(model=ModelSpec(depth=7), schedule=(2, 2, 2))


def test_frozen_layers_do_not_change_and_unfrozen_ones_do(monkeypatch):
    """Snapshot every hidden layer at each stage's start and end; frozen ones must be bit-identical."""
    snapshots = []
    real_apply = training.apply_stage

    def spy(model, stage):
        params = real_apply(model, stage)
        snapshots.append((stage, model, [layer.linear.weight.detach().clone() for layer in model.hidden]))
        return params

    monkeypatch.setattr(training, "apply_stage", spy)
    spec = small_spec(model=ModelSpec(depth=4, width=16), schedule=(1, 2, 1))
    model, run = training.train(spec, tiny_data(), log=lambda m: None)
    ends = [s[2] for s in snapshots[1:]] + [[layer.linear.weight.detach().clone() for layer in model.hidden]]
    assert [s[0] for s in snapshots] == stages(spec)
    for (stage, _, start), end in zip(snapshots, ends, strict=True):
        for i in range(4):
            changed = not torch.equal(start[i], end[i])
            if i < stage.frozen or i >= stage.active:
                assert not changed, f"layer {i + 1} changed in {stage}"
            else:
                assert changed, f"layer {i + 1} did not train in {stage}"
    assert sorted({r["stage"] for r in run.metrics}) == [1, 2, 3, 4, 5]
    assert len(run.metrics) == 5 * spec.epochs
    frozen_stage = run.frame("grad_steps").query("stage == 2")
    assert set(frozen_stage["layer"]) == {"hidden2", "hidden3", "output"}  # hidden1 frozen: no gradient
    epochs = run.frame("grad_epochs").query("stage == 2")
    assert set(epochs["layer"]) == {"hidden2", "hidden3", "output"}
    assert set(epochs.query("statistic == 'saturation'")["layer"]) == {"hidden2", "hidden3"}  # of the layers trained


def test_checkpoint_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    data = tiny_data()
    spec = small_spec(model=ModelSpec(depth=3, width=16), schedule=(1, 2), epochs=3)
    _, full = training.train(spec, data, log=lambda m: None)
    ckpt = tmp_path / "not-yet-made" / "run.ckpt"
    with pytest.raises(Killed):  # in stage 2's second epoch (the run's fifth), before its checkpoint
        kill = KillAt(lambda row: (row["stage"], row["epoch"]) == (2, 5))
        training.train(spec, data, checkpoint=ckpt, log=lambda m: None, callbacks=[kill])
    assert ckpt.exists()
    # a kill between the two writes of a checkpoint leaves one record too many: it must be dropped
    checkpoints._append_records(checkpoints.records_path(ckpt), {"grad_steps": {}, "grad_epochs": {}})
    messages = []
    _, resumed = training.train(spec, data, checkpoint=ckpt, log=messages.append)
    assert any("resumed from" in m for m in messages)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(resumed.metrics) == drop(full.metrics)
    pd.testing.assert_frame_equal(resumed.frame("grad_steps"), full.frame("grad_steps"))
    pd.testing.assert_frame_equal(resumed.frame("grad_epochs"), full.frame("grad_epochs"))
    assert (resumed.test_loss, resumed.test_acc) == (full.test_loss, full.test_acc)


def test_stale_checkpoint_from_other_settings_is_ignored(tmp_path):
    data = tiny_data()
    ckpt = tmp_path / "run.ckpt"
    training.train(small_spec(lr=0.1), data, checkpoint=ckpt, log=lambda m: None)
    messages = []
    _, run = training.train(small_spec(lr=0.01), data, checkpoint=ckpt, log=messages.append)
    assert any("other settings" in m for m in messages) and not any("resumed from" in m for m in messages)
    _, fresh = training.train(small_spec(lr=0.01), data, log=lambda m: None)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(run.metrics) == drop(fresh.metrics)  # every epoch trained again, none taken from the stale state
    assert run.test_loss == fresh.test_loss


def test_divergence_stops_the_run_and_is_recorded():
    spec = small_spec(
        model=ModelSpec(depth=3, width=16, activation="relu", init="normal", init_std=10.0), lr=50.0, epochs=5
    )
    messages = []
    _, run = training.train(spec, tiny_data(), log=messages.append)
    assert run.diverged_epoch is not None and run.diverged_epoch <= 5
    assert len(run.metrics) == run.diverged_epoch
    assert any("diverged" in m for m in messages)


def test_grad_ratio_uses_the_last_stage():
    steps = pd.DataFrame(
        {
            "stage": [1, 1, 2, 2, 2, 2],
            "epoch": 1,
            "step": [0, 0, 1, 1, 2, 2],
            "layer": ["hidden1", "output"] * 3,
            "grad_norm": [1.0, 1.0, 1.0, 4.0, 3.0, 4.0],
        }
    )
    assert grad_ratio(steps) == pytest.approx((0.25 + 0.75) / 2)


def test_flushing_subnormals_changes_no_number_of_a_run_that_makes_none():
    """The job flushes subnormal floats to zero (``job.torch_settings``), for the speed of saturated runs; a run
    that makes no subnormals ends bitwise the same."""
    spec, data = small_spec(epochs=2), tiny_data()
    _, plain = training.train(spec, data, log=lambda m: None)
    try:
        job.torch_settings(torch.get_num_threads())
        _, flushed = training.train(spec, data, log=lambda m: None)
    finally:
        torch.set_flush_denormal(False)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(flushed.metrics) == drop(plain.metrics)
    pd.testing.assert_frame_equal(flushed.frame("grad_steps"), plain.frame("grad_steps"))
    assert (flushed.test_loss, flushed.best_test_acc) == (plain.test_loss, plain.best_test_acc)


def test_norms_never_underflow_to_zero(monkeypatch):
    """float32 norms of 1e-25 elements read 0 (1e-20 with subnormals flushed); the recorder's must not."""
    tiny = torch.full((128, 128), 1e-25)
    assert torch.linalg.vector_norm(tiny) == 0  # the trap
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        try:
            for value in (1e-25, 1e-20):
                got = norms([torch.full((128, 128), value)])
                assert got.dtype == torch.float64 and float(got[0]) == pytest.approx(128 * value, rel=1e-6)
        finally:
            torch.set_flush_denormal(False)
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=2, width=8))
    recorder = GradientRecorder()
    recorder.start_epoch(model)
    for _, linear in model.linears():
        linear.weight.grad = torch.full_like(linear.weight, 1e-25)
    recorder.before_step()
    recorder.after_step()
    records = recorder.end_epoch(model, {})
    assert (records["grad_steps"]["grad_norm"] > 0).all()


def test_costly_statistics_every_k_steps_average_over_the_steps_they_saw():
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=2, width=8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    recorder = GradientRecorder(step_every=1, stats_every=3)
    recorder.start_epoch(model)
    expected_abs = []
    for step in range(7):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.rand(4, 784)), torch.randint(0, 10, (4,))).backward()
        if step % 3 == 0:
            expected_abs.append(model.head.weight.grad.abs().mean().item())
        recorder.before_step()
        optimizer.step()
        recorder.after_step()
    records = recorder.end_epoch(model, {})
    assert len(records["grad_steps"]["steps"]) == 7  # norms at every step
    assert float(recorder.epoch_statistics(model)["grad_abs_mean"][-1]) == pytest.approx(
        np.mean(expected_abs), rel=1e-5
    )


def test_the_test_is_taken_at_the_best_validation_epoch():
    spec = small_spec(lr=0.5, epochs=6)
    model, run = training.train(spec, tiny_data(), log=lambda m: None)
    val = [m["val_acc"] for m in run.metrics]
    assert run.best_epoch == 1 + val.index(max(val))  # the earliest of equal bests
    # the same run stopped after its best epoch has, as its final test, the best epoch's test
    _, stopped = training.train(small_spec(lr=0.5, epochs=run.best_epoch), tiny_data(), log=lambda m: None)
    assert (run.best_test_loss, run.best_test_acc) == (stopped.test_loss, stopped.test_acc)
    final = training.evaluate(model, *training._to_device(tiny_data()["test"], "cpu"))
    assert final == (run.test_loss, run.test_acc)  # the model keeps its final weights


def test_patience_ends_a_stage_early_and_a_resumed_run_stops_at_the_same_epoch(tmp_path):
    # too small a rate: validation never improves; patience_after 0 counts from the first epoch
    spec = small_spec(lr=1e-6, epochs=30, patience=2, patience_after=0.0)
    messages = []
    _, run = training.train(spec, tiny_data(), log=messages.append)
    assert run.stopped_early and len(run.metrics) == 3  # the first epoch, then two without a better one
    assert any("ends early" in m for m in messages)

    ckpt = tmp_path / "run.ckpt"

    class KillOnceSaved(Callback):
        """Asked before the best epoch's stop: the job dies once epoch 3's checkpoint is written."""

        def stop_reason(self):
            if ckpt.exists() and torch.load(ckpt, weights_only=True)["epoch"] == 3:
                raise Killed

    with pytest.raises(Killed):  # the resumed run must not train a fourth epoch
        callbacks = [KillOnceSaved(), *training.default_callbacks(spec)]
        training.Trainer(spec, tiny_data(), checkpoint=ckpt, log=lambda m: None, callbacks=callbacks).fit()
    _, resumed = training.train(spec, tiny_data(), checkpoint=ckpt, log=lambda m: None)
    assert len(resumed.metrics) == 3 and resumed.stopped_early
    assert (resumed.best_epoch, resumed.best_test_acc) == (run.best_epoch, run.best_test_acc)


def test_patience_applies_per_stage_of_a_schedule():
    spec = small_spec(
        model=ModelSpec(depth=3, width=16), schedule=(1, 2), lr=1e-6, epochs=10, patience=1, patience_after=0.0
    )
    _, run = training.train(spec, tiny_data(), log=lambda m: None)
    assert sorted({m["stage"] for m in run.metrics}) == [1, 2, 3]  # every stage ran, each cut short
    assert len(run.metrics) == 3 * 2


def test_patience_never_ends_a_run_still_at_chance():
    """A network on its plateau reaches its highest chance value in an epoch or two: patience counted from there
    would stop it long before a late escape. It counts only once validation passes patience_after x chance."""
    spec = small_spec(lr=1e-6, epochs=12, patience=2)  # default patience_after: twice chance
    _, run = training.train(spec, tiny_data(), log=lambda m: None)
    assert max(m["val_acc"] for m in run.metrics) <= 2 / spec.model.classes  # it stayed at chance...
    assert len(run.metrics) == 12 and not run.stopped_early  # ...and trained its whole budget
    assert run.steps == run.budget_steps == 12 * math.ceil(len(tiny_data()["train"].labels) / spec.batch_size)


def test_patience_counts_once_a_run_has_left_chance():
    """Stale epochs are counted from the stage's best only once that best passed the threshold: a plateau at
    chance of any length, then an escape, then two epochs without a better one."""
    best, model = BestEpoch(threshold=0.2), MLP(ModelSpec(depth=1, width=4))
    accs = [0.10, 0.11, 0.10, 0.11, 0.10, 0.10, 0.10, 0.10, 0.35, 0.60, 0.58, 0.59]
    stale = []
    for epoch, acc in enumerate(accs, start=1):
        best.end_epoch(model, {"epoch": epoch, "val_acc": acc})
        stale.append(best.stale)
    assert stale == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]  # counted from the escape's best only
    assert best.best_epoch == 10


def test_a_run_budget_gives_a_schedule_the_steps_of_a_plain_run():
    """Budget "run": train-some-layers' stages share the run's steps, so it takes exactly as many optimiser steps
    as any other configuration, even with more stages than epochs (a stage then ends within an epoch); budget
    "stage" (the course) gives each stage all of the epochs."""
    plain = small_spec(model=ModelSpec(depth=3, width=16), epochs=3, budget="run")
    grown = small_spec(model=ModelSpec(depth=3, width=16), epochs=3, budget="run", schedule=(1, 1, 1))
    per_epoch = math.ceil(len(tiny_data()["train"].labels) / plain.batch_size)
    total = 3 * per_epoch
    assert specs.stage_steps(grown, per_epoch) == [total // 5 + (i >= 5 - total % 5) for i in range(5)]
    _, a = training.train(plain, tiny_data(), log=lambda m: None)
    _, b = training.train(grown, tiny_data(), log=lambda m: None)
    assert a.steps == b.steps == a.budget_steps == b.budget_steps == total
    assert len(b.metrics) > len(a.metrics) == 3  # 5 stages over 3 epochs: some epochs partial
    course = small_spec(model=ModelSpec(depth=3, width=16), epochs=7, budget="stage", schedule=(1, 1, 1))
    assert specs.total_epochs(course) == 35 and specs.stage_steps(course, 4) == [28] * 5
    with pytest.raises(ValueError, match="fewer steps than the 5 stages"):
        specs.stage_steps(grown, 1)


def test_a_run_resumed_within_a_partial_epoch_ends_like_an_uninterrupted_one(tmp_path):
    spec = small_spec(model=ModelSpec(depth=3, width=16), epochs=2, budget="run", schedule=(1, 1, 1), lr=0.3)
    _, whole = training.train(spec, tiny_data(), log=lambda m: None)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Killed):  # in stage 3's first epoch
        kill = KillAt(lambda row: row["stage"] == 3)
        training.train(spec, tiny_data(), checkpoint=ckpt, log=lambda m: None, callbacks=[kill])
    _, resumed = training.train(spec, tiny_data(), checkpoint=ckpt, log=lambda m: None)
    assert resumed.steps == whole.steps and resumed.metrics == [
        {**m, "seconds": r["seconds"]} for m, r in zip(whole.metrics, resumed.metrics, strict=True)
    ]


def test_every_callbacks_evaluation_hooks_run():
    seen = []

    class Watcher(Callback):
        def evaluation_hooks(self, model):
            return [model.head.register_forward_hook(lambda *_: seen.append(1))]

    training.train(small_spec(epochs=2), tiny_data(), log=lambda m: None, callbacks=[Watcher()])
    assert len(seen) == 2  # one validation pass per epoch (the validation split fits one batch)


@pytest.mark.parametrize("change", ["validation", "train", "test", "labels"])
def test_a_checkpoint_never_resumes_on_other_data(tmp_path, change):
    """A changed split, subset or dataset starts the run afresh (a kill and a changed validation size resumed
    the old state before, mixing epochs of two splits)."""
    spec, data = small_spec(epochs=3), tiny_data()
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Killed):  # in epoch 2, before its checkpoint: epoch 1's is on disk
        training.train(spec, data, checkpoint=ckpt, log=lambda m: None, callbacks=[KillAt(lambda r: r["epoch"] == 2)])
    assert ckpt.exists()
    other = dict(data)
    split = "train" if change == "labels" else change
    images, labels = data[split].images, data[split].labels
    other[split] = (
        type(data[split])(images, labels.roll(1)) if change == "labels" else type(data[split])(images[:-1], labels[:-1])
    )
    messages = []
    _, run = training.train(spec, other, checkpoint=ckpt, log=messages.append)
    assert any("other settings, data or code" in m for m in messages)
    assert not any("resumed" in m for m in messages) and len(run.metrics) == 3
    _, fresh = training.train(spec, other, log=lambda m: None)
    assert run.test_loss == fresh.test_loss


def test_a_checkpoint_resumes_only_under_the_code_that_made_it(tmp_path):
    """The training code's hash is part of the fingerprint: a state made by other code starts the run afresh, and
    the same code resumes it (a result never mixes epochs trained by two versions of the code)."""
    spec, data = small_spec(epochs=3), tiny_data()
    assert checkpoints.fingerprint(spec, data, "a") != checkpoints.fingerprint(spec, data, "b")

    def killed_run(ckpt):
        with pytest.raises(Killed):  # in epoch 2: epoch 1's checkpoint is on disk
            kill = KillAt(lambda row: row["epoch"] == 2)
            training.train(spec, data, checkpoint=ckpt, log=lambda m: None, callbacks=[kill], code="a")
        assert ckpt.exists()

    killed_run(tmp_path / "other" / "run.ckpt")
    messages = []
    _, run = training.train(spec, data, checkpoint=tmp_path / "other" / "run.ckpt", log=messages.append, code="b")
    assert any("other settings, data or code" in m for m in messages)
    assert not any("resumed" in m for m in messages) and len(run.metrics) == 3
    killed_run(tmp_path / "same" / "run.ckpt")
    messages = []
    _, same = training.train(spec, data, checkpoint=tmp_path / "same" / "run.ckpt", log=messages.append, code="a")
    assert any("resumed from" in m for m in messages)
    assert (same.test_loss, same.test_acc) == (run.test_loss, run.test_acc)


@pytest.mark.parametrize("norm", ["batchnorm", "standardize"])
def test_a_last_training_batch_of_one_sample_is_left_out_with_normalisation(norm):
    """Train subset 1001, batch 500: BatchNorm stopped with 'Expected more than 1 value per channel'."""
    data = tiny_data(n_train=129)
    spec = small_spec(model=ModelSpec(depth=2, width=8, norm=norm), batch_size=64, epochs=1)
    _, run = training.train(spec, data, log=lambda m: None)
    assert math.isfinite(run.metrics[0]["train_loss"]) and math.isfinite(run.test_loss)
    _, plain = training.train(small_spec(batch_size=64, epochs=1), data, log=lambda m: None)
    assert math.isfinite(plain.metrics[0]["train_loss"])  # without normalisation the batch of one trains


def test_per_layer_rates_scale_each_layer_by_its_gradient_at_initialisation():
    """layer_lr init_gradient: each Linear layer's SGD rate is lr x (output's gradient norm / its own) at init,
    measured on a copy (the model and the run's shuffle untouched), capped; the first step then moves every layer's
    weights by a similar fraction, where one global rate moves layer 1 orders of magnitude less."""
    from vanishing_gradients import layer_rates

    data = tiny_data(n_train=600)
    spec = small_spec(model=ModelSpec(depth=5, width=32), lr=0.5, layer_lr="init_gradient", layer_lr_cap=1e6)
    trainer = training.Trainer(spec, data, log=lambda m: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    factors = trainer.layer_factors
    assert factors["output"] == 1.0 and factors["hidden1"] > 50  # sigmoid layers shrink the gradient ~7x each
    x, y = trainer.train_x, trainer.train_y
    again = layer_rates.init_gradient_factors(trainer.model, x, y, spec.batch_size, spec.seed, spec.layer_lr_cap)
    assert again == factors and all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in before.items())
    trainer.start_stage()
    lrs = {group["params"][0].data_ptr(): group["lr"] for group in trainer.optimizer.param_groups}
    for name, linear in trainer.model.linears():
        assert lrs[linear.weight.data_ptr()] == pytest.approx(spec.lr * factors[name])
    capped = layer_rates.init_gradient_factors(trainer.model, x, y, spec.batch_size, spec.seed, cap=3.0)
    assert max(capped.values()) == 3.0

    def first_step_moves(settings):
        _, run = training.train(small_spec(**settings, epochs=1), data, log=lambda m: None)
        moved = run.frame("grad_epochs").query("statistic == 'update_ratio'").set_index("layer")["value"]
        return moved["hidden1"] / moved["output"]

    model = ModelSpec(depth=5, width=32)
    plain, scaled = (
        first_step_moves({"model": model, "lr": 0.5}),
        first_step_moves({"model": model, "lr": 0.5, "layer_lr": "init_gradient", "layer_lr_cap": 1e6}),
    )
    assert plain < 0.01 < 0.1 < scaled  # layer 1 moves about as much as the output layer only with its own rate


def test_per_layer_rates_off_build_the_one_group_optimiser_of_every_run():
    trainer = training.Trainer(small_spec(), tiny_data(), log=lambda m: None)
    trainer.start_stage()
    assert trainer.layer_factors is None and len(trainer.optimizer.param_groups) == 1
