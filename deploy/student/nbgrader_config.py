"""nbgrader for a student's server on the hub: the course, the shared exchange, who submits.

Every user's server runs as the same Unix user on one machine, so nbgrader cannot
tell students apart by their account: the student id is the hub's user name.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets

c.CourseDirectory.course_id = "dltrack"
c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
c.Exchange.root = os.environ["DLTRACK_EXCHANGE"]
c.Exchange.path_includes_course = True
