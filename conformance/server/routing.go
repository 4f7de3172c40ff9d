package server

import (
	"net/http"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

var _ = specs.Describe("URL layout and routing", func() {
	It("serves create, write, read, close-segment and delete under the base URL", harness.Req("TRK-SRV-001", harness.Must, harness.Core), func() {
		ch := newChannel()
		Expect(post(ch, 0, "abc").status).To(Equal(http.StatusOK))
		r := get(ch, 0)
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(Equal("abc"))
		Expect(do("HEAD", segURL(ch, 0), nil).status).To(Equal(http.StatusOK))
		Expect(do("DELETE", segURL(ch, 0), nil).status).To(Equal(http.StatusOK))
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
	})

	DescribeTable("answers other methods with 405 and an Allow header",
		func(method, elem string, allow []string) {
			ch := newChannel()
			r := do(method, cfg.base+ch+elem, nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusMethodNotAllowed))
			got := strings.Split(r.header.Get("Allow"), ",")
			for i := range got {
				got[i] = strings.TrimSpace(got[i])
			}
			sort.Strings(got)
			Expect(got).To(Equal(allow))
		},
		Entry("GET on a channel", harness.Req("TRK-SRV-002", harness.Must, harness.Core), "GET", "", []string{"DELETE", "POST"}),
		Entry("PATCH on a channel", harness.Req("TRK-SRV-002", harness.Must, harness.Core), "PATCH", "", []string{"DELETE", "POST"}),
		Entry("PUT on a segment", harness.Req("TRK-SRV-002", harness.Must, harness.Core), "PUT", "/0", []string{"DELETE", "GET", "HEAD", "POST"}),
		Entry("OPTIONS on a segment", harness.Req("TRK-SRV-002", harness.Must, harness.Core), "OPTIONS", "/0", []string{"DELETE", "GET", "HEAD", "POST"}),
	)
})
