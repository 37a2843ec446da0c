package emulator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// EnvS3 names an S3 emulator that is already running; the tests start their
// own, in-process, when it is unset.
const EnvS3 = "DEVICEHUB_TEST_S3_ENDPOINT"

// StartS3 serves an S3 emulator (gofakes3 on its in-memory backend) over
// HTTP on 127.0.0.1:port (0 picks a free port) and returns its base URL.
// It runs in this process, so it needs no install step and dies with the
// process; stop shuts it down and drops everything it stored.
//
// Clients address it by path (awsenv.S3 does so for any endpoint). Buckets
// are not created on first use: as on S3, a PutObject to a missing bucket
// fails with NoSuchBucket, so create them with CreateBucket.
func StartS3(ctx context.Context, port int) (endpoint string, stop func(), err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return "", nil, fmt.Errorf("emulator: s3: listen: %w", err)
	}
	faker := gofakes3.New(s3mem.New())
	srv := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve fails only with its listener; the requests of the
		// callers then fail too, and tell them.
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shut)
			<-done
		})
	}
	return "http://" + ln.Addr().String(), stop, nil
}
