package sandbox

import (
	"fmt"
	"strings"
)

// User is a platform user.
type User struct {
	ID        int
	Username  string
	Password  string
	FirstName string
	LastName  string
	Email     string
	Level     string // user | admin | super_admin
}

// Course is a course, or a learning plan (Type "learning_plan"). Courses and
// learning plans are numbered separately, as on a real platform: course 1001
// and learning plan 1001 are two different things.
type Course struct {
	ID          int
	Code        string
	Name        string
	Type        string // elearning | classroom | webinar; learning_plan for a plan
	Slug        string
	Description string // HTML, as Docebo stores it
	Language    string
	Duration    int // seconds
	// Unpublished: an admin sees it in /learn/v1/courses (with
	// "is_published": false), a learner nowhere.
	Unpublished bool
	// CourseIDs are a learning plan's courses.
	CourseIDs []int
}

// Catalog is a catalog of courses and learning plans, and who it is
// assigned to (/learn/v1/catalog?my_catalogs=1 lists a user's catalogs).
type Catalog struct {
	ID          int
	Name        string
	Description string
	CourseIDs   []int
	PlanIDs     []int
	// Everyone assigns the catalog to every user; else only to UserIDs.
	Everyone bool
	UserIDs  []int
}

// Enrollment is a user's enrollment in a course, or in learning plan PlanID
// when that is non-zero (CourseID is then ignored). Status uses the words the
// platform may answer with: subscribed, enrolled, waiting, in_progress,
// completed, suspended (unconfirmed which set /learn/v1/enrollments uses; the
// seed mixes them so clients must map all of them). Completion < 0 means the
// item carries no completion_percentage (unconfirmed whether it ever does).
type Enrollment struct {
	UserID     int
	CourseID   int
	PlanID     int
	Status     string
	Completion int
	// WithURL makes the item carry its own "url" field.
	WithURL bool
}

// SeedUsers are the sandbox's users; every password is DefaultPassword.
func SeedUsers() []User {
	mk := func(id int, user, first, last, level string) User {
		return User{ID: id, Username: user, Password: DefaultPassword, FirstName: first, LastName: last,
			Email: user + "@example.com", Level: level}
	}
	return []User{
		mk(12301, "ada", "Ada", "Lovelace", "user"),
		mk(12302, "grace", "Grace", "Hopper", "user"),
		mk(12303, "alan", "Alan", "Turing", "user"),
		mk(12304, "katherine", "Katherine", "Johnson", "user"),
		mk(12300, "admin", "Sandbox", "Admin", "super_admin"),
	}
}

var seedTitles = []string{
	"Go Fundamentals",
	"Concurrency in Go",
	"Go for Web Services",
	"Testing in Go",
	"Go Generics Deep Dive",
	"Let's Go: Developer Onboarding",
	"Security Awareness Essentials",
	"GDPR for Everyone",
	"Phishing: Spot the Hook",
	"Leading Remote Teams",
	"Negotiation Skills",
	"Giving Good Feedback",
	"Excel Advanced Formulas",
	"Kubernetes Basics",
	"Docker for Developers",
	"Python Data Analysis",
	"SQL Fundamentals",
	"Customer Success 101",
	"Public Speaking Without Fear",
	"Time Management for Busy People",
	"Agile and Scrum in Practice",
	"Design Thinking Workshop",
	"Accessibility on the Web",
	"Cloud Cost Management",
	"Incident Response Drill",
	"Writing Clear Documentation",
	"Introduction to Machine Learning",
	"Statistics Refresher",
	"Sales Pipeline Mastery",
	"Onboarding: Welcome to Acme",
	"Diversity and Inclusion at Work",
	"Harassment Prevention",
	"First Aid at the Office",
	"Fire Safety Basics",
	"Project Management Essentials",
	"Product Discovery",
	"UX Research Methods",
	"Data Privacy for Engineers",
	"Secure Coding Practices",
	"Code Review That Works",
	"Git Beyond the Basics",
	"Linux Command Line",
	"Networking Fundamentals",
	"Observability with Prometheus",
	"Mentoring New Hires",
	"Coaching Conversations",
	"Budgeting for Managers",
	"Going Global: Cross-Cultural Communication",
	"Google Workspace Tips",
	"Algorithms and Data Structures",
}

// SeedCourses are fifty published courses, ids 1001…1050, several with "Go"
// in the title and a few that only contain the letters (Google, Algorithms,
// Going) so ranking has something to do, and one unpublished draft, 1051
// "Go Internals (draft)", that only an admin's course list shows.
func SeedCourses() []Course {
	out := make([]Course, 0, len(seedTitles)+1)
	for i, t := range seedTitles {
		typ := "elearning"
		switch {
		case i%7 == 6:
			typ = "webinar"
		case i%5 == 4:
			typ = "classroom"
		}
		out = append(out, Course{
			ID:          1001 + i,
			Code:        fmt.Sprintf("C-%03d", i+1),
			Name:        t,
			Type:        typ,
			Slug:        slugify(t),
			Description: fmt.Sprintf("<p>%s. A %s in the sandbox catalog.</p>", t, typeLabel[typ]),
			Language:    "en",
			Duration:    1800 + 600*(i%6),
		})
	}
	out = append(out, Course{
		ID: 1051, Code: "C-051", Name: "Go Internals (draft)", Type: "elearning", Slug: "go-internals-draft",
		Description: "<p>Go Internals. Not published yet.</p>", Language: "en", Duration: 3600, Unpublished: true,
	})
	return out
}

// SeedLearningPlans are two learning plans whose ids, 1001 and 1002, are
// also the ids of two courses (Go Fundamentals, Concurrency in Go): ada is
// enrolled in both plans and both courses.
func SeedLearningPlans() []Course {
	return []Course{
		{ID: 1001, Code: "LP-001", Name: "Go Developer Path", Type: "learning_plan", Slug: "go-developer-path",
			Description: "<p>Go Developer Path. A learning plan of five Go courses.</p>", Duration: 14400,
			CourseIDs: []int{1001, 1002, 1003, 1004, 1005}},
		{ID: 1002, Code: "LP-002", Name: "Security Champion Path", Type: "learning_plan", Slug: "security-champion-path",
			Description: "<p>Security Champion Path. A learning plan on secure work.</p>", Duration: 10800,
			CourseIDs: []int{1007, 1008, 1009, 1038, 1039}},
	}
}

// SeedCatalogs: "All employees", assigned to everyone, holds both learning
// plans and every published course but four; "Managers", assigned to grace
// and admin only, holds those four (among them "Going Global: Cross-Cultural
// Communication", which a search for "go" finds). The unpublished course is
// in no catalog.
func SeedCatalogs() []Catalog {
	managers := []int{1010, 1046, 1047, 1048}
	skip := map[int]bool{}
	for _, id := range managers {
		skip[id] = true
	}
	var all []int
	for i := range seedTitles {
		if id := 1001 + i; !skip[id] {
			all = append(all, id)
		}
	}
	return []Catalog{
		{ID: 1, Name: "All employees", Description: "Everything open to every employee.", CourseIDs: all, PlanIDs: []int{1001, 1002}, Everyone: true},
		{ID: 2, Name: "Managers", Description: "Courses for people managers.", CourseIDs: managers, UserIDs: []int{12302, 12300}},
	}
}

var typeLabel = map[string]string{
	"elearning":     "self-paced e-learning course",
	"classroom":     "classroom course",
	"webinar":       "live webinar",
	"learning_plan": "learning plan",
}

var seedStatuses = []string{"subscribed", "in_progress", "completed", "enrolled", "waiting", "in_progress", "completed", "suspended"}

// SeedEnrollments: ada has 30 enrollments in every status (three pages at
// page_size 10), two of them the learning plans 1001 and 1002 that share
// their ids with two of her courses; grace 12, alan 5, katherine none,
// admin 2.
func SeedEnrollments() []Enrollment {
	var out []Enrollment
	add := func(user int, idx []int) {
		for n, i := range idx {
			st := seedStatuses[(n+user)%len(seedStatuses)]
			comp := -1
			switch st {
			case "in_progress":
				comp = 10 + (n*17)%80
			case "completed":
				if n%2 == 0 {
					comp = 100
				}
			}
			e := Enrollment{UserID: user, CourseID: 1001 + i, Status: st, Completion: comp, WithURL: n%3 == 2}
			if user == 12301 && (n == 10 || n == 21) {
				e.CourseID, e.PlanID = 0, 1001+n/11 // learning plans 1001 and 1002
				e.WithURL = n == 21
			}
			out = append(out, e)
		}
	}
	add(12301, seq(0, 30))
	add(12302, seq(10, 22))
	add(12303, []int{0, 5, 10, 15, 20})
	add(12300, []int{40, 41})
	return out
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
