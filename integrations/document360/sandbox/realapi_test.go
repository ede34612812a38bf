package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// v2 hits carry every visibility flag of the real Hit schema; v3 search
// leaves flagged articles out.
func TestHitFlags(t *testing.T) {
	t.Parallel()
	_, srv := start(t, Options{})
	resp, body := get(t, srv, "/v2/ProjectVersions/"+DefaultVersionID+"/en?searchQuery=sabbatical&hitsPerPage=20", map[string]string{"api_token": tok})
	var env struct {
		Data struct {
			Hits []map[string]any `json:"hits"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &env) != nil || len(env.Data.Hits) != 5 {
		t.Fatalf("v2 sabbatical: %d %s", resp.StatusCode, body)
	}
	flagged := map[string]string{}
	for _, h := range env.Data.Hits {
		for _, f := range []string{"exclude", "is_deleted", "is_category", "is_private", "is_hidden", "is_draft", "is_category_hidden"} {
			v, ok := h[f].(bool)
			if !ok {
				t.Errorf("hit %v has no boolean %s", h["slug"], f)
			}
			if v {
				flagged[f] = h["slug"].(string)
			}
		}
	}
	for _, f := range []string{"exclude", "is_deleted", "is_category", "is_private"} {
		if flagged[f] == "" {
			t.Errorf("no sabbatical hit with %s", f)
		}
	}
	resp, body = get(t, srv, "/v3/projects/"+DefaultProjectID+"/workspaces/"+DefaultVersionID+"/search?query=sabbatical", map[string]string{"X-API-Key": key})
	var v3 struct {
		Data []map[string]any `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &v3) != nil || len(v3.Data) != 1 || v3.Data[0]["slug"] != "sabbatical-policy" {
		t.Errorf("v3 sabbatical: %d %s", resp.StatusCode, body)
	}
}

// The article lookup returns the latest version, a draft, unless asked for
// the published one.
func TestArticleLatestIsDraft(t *testing.T) {
	t.Parallel()
	_, srv := start(t, Options{})
	var id string
	for _, a := range SeedArticles() {
		if a.DraftSlug != "" {
			id = a.ID
		}
	}
	for _, c := range []struct{ path, hdr, val, wantSlug string }{
		{"/v2/Articles/" + id + "/en", "api_token", tok, "parental-leave-2027-draft"},
		{"/v2/Articles/" + id + "/en?isPublished=true", "api_token", tok, "parental-leave"},
		{"/v3/projects/" + DefaultProjectID + "/articles/" + id + "?lang_code=en", "X-API-Key", key, "parental-leave-2027-draft"},
		{"/v3/projects/" + DefaultProjectID + "/articles/" + id + "?lang_code=en&published=true", "X-API-Key", key, "parental-leave"},
	} {
		resp, body := get(t, srv, c.path, map[string]string{c.hdr: c.val})
		var env struct {
			Data struct{ Slug, URL string } `json:"data"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &env) != nil || env.Data.Slug != c.wantSlug || env.Data.URL != srv.URL+"/docs/"+c.wantSlug {
			t.Errorf("%s: %d %s, want slug %s", c.path, resp.StatusCode, body, c.wantSlug)
		}
	}
	if resp, _ := get(t, srv, "/docs/parental-leave-2027-draft", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the draft's page: %d, want 404", resp.StatusCode)
	}
}

// The widget token endpoint is served where WidgetTokenPath says.
func TestWidgetTokenPath(t *testing.T) {
	t.Parallel()
	_, srv := start(t, Options{WidgetTokenPath: "/portal/widget/token"})
	form := url.Values{"grant_type": {"Widget"}, "id": {DefaultProjectID}, "payload": {`{"username":"jd","readerGroupIds":["g"],"tokenValidity":15,"projectId":"` + DefaultProjectID + `"}`}}
	for _, c := range []struct {
		path string
		want int
	}{{"/portal/widget/token", 200}, {"/connect/token", 404}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(DefaultProjectID, secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s: %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
}
