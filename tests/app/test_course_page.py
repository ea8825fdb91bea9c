"""The course map is served at /course, first in the navigation, and links to every lab."""

import re

import httpx

from app.labs import LABS


def test_the_course_map_is_served_first_in_the_navigation_and_links_every_lab(live_server):
    response = httpx.get(f"{live_server}/course")
    assert response.status_code == 200
    html = response.text
    nav = re.search(r'<nav class="labs".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="/(\w+)"', nav)[0] == "course"
    linked = set(re.findall(r'class="course-lab" href="/(\w+)"', html))
    assert {lab.name for lab in LABS} <= linked
    assert 'data-lab="course"' in html
    assert "<title>Course · torchplay</title>" in html
    # The playground stays at /.
    assert 'data-lab="mlp"' in httpx.get(f"{live_server}/").text


def test_every_lab_links_back_to_its_step_on_the_map(live_server):
    course = httpx.get(f"{live_server}/course").text
    for lab in LABS:
        html = httpx.get(f"{live_server}/{lab.name}").text
        (anchor,) = re.findall(r'href="/course#([\w-]+)"', html)
        step = re.search(rf'<li id="{anchor}">.*?</li>', course, re.S)
        assert step, (lab.name, anchor)
        assert f'href="/{lab.name}"' in step.group(0), lab.name
