"""gengen_lib: the code behind the gengen course on deep generative models.

One module per concern:

* models and their maths: ``vae``, ``gan``, ``flows`` (RealNVP), ``flow_matching``, ``toy``
  (2-d flows), ``densities`` (shared log-densities), ``latent`` (lerp and slerp), ``baselines``
  (likelihoods of trivial models);
* the registry: each family module ends in a ``FAMILY`` record (``family``), collected in
  ``families``; ``options`` turns settings dataclasses into command-line options and back;
* data: ``data`` (MNIST offline, its three views, batching);
* training: ``training`` (the one loop), ``checkpoints`` (the file format, locks, integrity),
  ``runs`` (run folders keyed by settings), ``pretrained`` (the shipped models in weights/);
* measuring: ``quality`` (the MNIST classifier, MNIST-FID and sample quality);
* teaching: ``plots`` (figures; each describes itself through ``alt_text`` and gets a phone
  layout from ``legibility``), ``widgets`` (sliders for JupyterLab), ``exercises`` (the
  checkers of every family, collected from ``exercises_vae``, ``exercises_gan``,
  ``exercises_flows``, ``exercises_flow_matching``; their machinery in ``checking``), the
  ``export`` package (weights for the in-page explorers, one module per family), ``runtime``
  (device, seeds, quick mode, notebook parameter checks);
* instructors: ``exercise_notebook`` (the exercises notebook's stubs, checks, hints and
  solutions), ``student`` (the edition without solutions), ``grading`` (grade a folder of
  submissions; each runs in ``grading_worker``, driven by ``grading_sandbox`` over
  ``grading_wire``, fenced by ``grading_seccomp``; its records in ``grading_report``, its pages by
  ``grading_feedback``), ``instructor``
  (their two commands);
* ``__main__``: the command line (``python -m gengen_lib --help``).
"""

__version__ = "0.1.0"
