package apitype

import "github.com/latchkey/latchkey/integrations"

// FeedError is one integration's failure in a feed (courses, search): the
// others still answer.
type FeedError struct {
	Integration string `json:"integration"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// Courses is the "My Courses" feed (GET /v1/courses).
type Courses struct {
	Items  []integrations.Course `json:"items"`
	Errors []FeedError           `json:"errors"`
}

// SearchResults is one search over every integration (GET /v1/search).
type SearchResults struct {
	Results []integrations.SearchResult `json:"results"`
	Errors  []FeedError                 `json:"errors"`
}
