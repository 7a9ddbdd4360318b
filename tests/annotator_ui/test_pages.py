"""Page routes without a browser: sign-in cookie, redirects, admin 403, media, static."""

from __future__ import annotations

from tests.server.helpers import upload

COOKIE = "backtal_session"


def signed_in(client, actor):  # type: ignore[no-untyped-def]
    client.cookies.set(COOKIE, actor.token)
    return client


def test_signin_sets_httponly_strict_session_cookie(client, alice):
    r = client.get("/")
    assert r.status_code == 200 and 'name="token"' in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    r = client.post(
        "/login", data={"token": alice.token, "next": "/videos"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/videos"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "expires" not in cookie.lower() and "max-age" not in cookie.lower()  # browser session
    r = client.get("/session/token")
    assert r.json()["token"] == alice.token and r.json()["user"]["name"] == "alice"
    assert r.headers["cache-control"] == "no-store"
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    assert client.get("/session/token").status_code == 401


def test_bad_token_and_cross_site_login_are_refused(client, alice):
    r = client.post("/login", data={"token": "bts_nope"})
    assert r.status_code == 401 and "not valid" in r.text
    r = client.post(
        "/login", data={"token": alice.token}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


def test_open_redirect_is_not_possible(client, alice):
    r = client.post(
        "/login", data={"token": alice.token, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert r.headers["location"] == "/videos"


def test_pages_need_sign_in(client):
    for path in ("/videos", "/videos/1", "/admin", "/videos/next"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/?next="), path
    assert client.get("/media/videos/1").status_code == 401


def test_admin_page_is_403_for_annotators_and_not_linked(client, alice, admin):
    signed_in(client, alice)
    r = client.get("/admin")
    assert r.status_code == 403 and "Admins only" in r.text
    assert 'href="/admin"' not in client.get("/videos").text
    signed_in(client, admin)
    r = client.get("/admin")
    assert r.status_code == 200 and 'id="retrain"' in r.text
    assert 'href="/admin"' in client.get("/videos").text


def test_video_list_shows_my_clicks_labels_and_rates(
    client, admin, alice, bob, clip_bytes, clip2_bytes
):
    v1 = upload(client, alice, clip_bytes, name="one.mp4").json()
    v2 = upload(client, alice, clip2_bytes, name="two.mp4").json()
    ids = [
        client.post("/api/v1/classes", json={"name": n}, headers=admin.h).json()["id"]
        for n in ("Bounce", "Spin")
    ]
    for t, elapsed in ((1.0, 3000), (2.0, 1000)):
        client.post(
            f"/api/v1/videos/{v1['id']}/clicks",
            json={"t_s": t, "client_elapsed_ms": elapsed},
            headers=alice.h,
        )
    client.post(f"/api/v1/videos/{v1['id']}/clicks", json={"t_s": 0.5}, headers=bob.h)
    for actor, vid in ((alice, v1["id"]), (bob, v2["id"])):  # bob's labels are not mine
        r = client.put(f"/api/v1/videos/{vid}/labels", json={"class_ids": ids}, headers=actor.h)
        assert r.status_code == 200, r.text
    signed_in(client, alice)
    html = client.get("/videos").text
    row1 = html.split(f'data-video-id="{v1["id"]}"')[1].split("</tr>")[0]
    row2 = html.split(f'data-video-id="{v2["id"]}"')[1].split("</tr>")[0]
    assert '<td class="num" data-col="clicks">2</td>' in row1
    assert '<td data-col="labelled"><span class="badge ok">yes (2)</span></td>' in row1
    assert '<td data-col="labelled"><span class="badge">no</span></td>' in row2
    assert '<td class="num" data-col="clicks">0</td>' in row2
    assert "30.0" in row1  # 2 clicks in 4 s of video: 30 per minute
    assert "2.0" in row1  # (3 s + 1 s) / 2 clicks
    # next unannotated: v2 (v1 has my clicks)
    assert f'id="next-unannotated" href="/videos/{v2["id"]}"' in html
    r = client.get(f"/videos/next?after={v2['id']}", follow_redirects=False)
    assert r.headers["location"] == f"/videos/{v2['id']}"  # wraps around to the only one left


def test_annotate_page_config_and_media_range(client, alice, clip_bytes):
    v = upload(client, alice, clip_bytes).json()
    signed_in(client, alice)
    r = client.get(f"/videos/{v['id']}")
    assert r.status_code == 200
    assert f"/media/videos/{v['id']}" in r.text
    assert alice.token not in r.text  # the token never goes into the HTML
    r = client.get(f"/media/videos/{v['id']}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.headers["content-type"] == "video/mp4"
    assert client.get("/videos/999").status_code == 404


def test_static_files(client):
    r = client.get("/static/js/timebase.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert client.get("/static/../pages.py").status_code == 404
    assert client.get("/static/%2e%2e/pages.py").status_code == 404
