"""nbgrader configuration for a learner in a Layer Lab class: fetch, submit and fetch feedback.

nbgrader reads this file when its commands run in the kit's folder (the folder a terminal
opened from JupyterLab starts in), so the README's learner commands work as written::

    nbgrader fetch_assignment lab2_hybrid_mix --course layerlab   # -> class/lab2_hybrid_mix/
    nbgrader submit lab2_hybrid_mix --course layerlab

* the exchange is ``$LAYERLAB_EXCHANGE``, else ``/srv/nbgrader/exchange``: the folder your
  instructor releases into (they tell you if it is another one);
* fetched labs go to ``class/`` in the kit (``$LAYERLAB_ASSIGNMENT_DIR`` to change it), apart
  from the self-paced copies in ``labs/``;
* what the labs regenerate when they run (``deliverable/``, the players' ``_layerlab_audio/``)
  is never submitted: the grader re-runs your notebook to make the deliverable it measures.

Instructors use ``autograder/nbgrader_config.py`` in their course folder instead.
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = os.environ.get("LAYERLAB_COURSE_ID", "layerlab")
c.Exchange.root = os.environ.get("LAYERLAB_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.assignment_dir = os.environ.get("LAYERLAB_ASSIGNMENT_DIR", os.path.join(HERE, "class"))

# the same list as the course's autograder/nbgrader_config.py (tests/project/test_learner_copies.py checks)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "deliverable", "_layerlab_audio"]
