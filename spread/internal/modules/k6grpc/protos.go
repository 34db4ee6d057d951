package k6grpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// methods is what a client can call: every method of every service of the
// loaded (or reflected) files, by its full name "/pkg.Service/Method".
type methods map[string]protoreflect.MethodDescriptor

// add registers the methods of every service in files.
func (m methods) add(files []protoreflect.FileDescriptor) {
	for _, fd := range files {
		svcs := fd.Services()
		for i := 0; i < svcs.Len(); i++ {
			sd := svcs.Get(i)
			ms := sd.Methods()
			for j := 0; j < ms.Len(); j++ {
				md := ms.Get(j)
				m["/"+string(sd.FullName())+"/"+string(md.Name())] = md
			}
		}
	}
}

// lookup finds a method by k6's url form: "/pkg.Service/Method", the
// leading slash optional.
func (m methods) lookup(url string) (string, protoreflect.MethodDescriptor, error) {
	full := "/" + strings.TrimPrefix(url, "/")
	if md, ok := m[full]; ok {
		return full, md, nil
	}
	if len(m) == 0 {
		return "", nil, fmt.Errorf("method %q not found: no proto loaded (client.load, client.loadProtoset or connect with reflect: true)", url)
	}
	return "", nil, fmt.Errorf("method %q not found in the loaded protos", url)
}

// readFunc reads a file the way the script's open() does (relative to
// the script, recorded for `spread archive`); it runs on the VU goroutine.
type readFunc func(name string) ([]byte, error)

// compile parses protoFiles with bufbuild/protocompile, resolving them and
// their imports in importPaths (the script's folder when empty; the
// well-known google/protobuf imports built in).
//
// protocompile reads files from its own goroutines, while read must run on
// the VU's goroutine (it calls into the JS runtime): the accessor sends
// each read to this goroutine, which serves them until the compile ends.
func compile(ctx context.Context, read readFunc, importPaths, protoFiles []string) ([]protoreflect.FileDescriptor, error) {
	type req struct {
		name  string
		reply chan readResult
	}
	reqs := make(chan req)
	accessor := func(name string) (io.ReadCloser, error) {
		r := req{name: name, reply: make(chan readResult, 1)}
		select {
		case reqs <- r:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		res := <-r.reply
		if res.err != nil {
			return nil, res.err
		}
		return io.NopCloser(strings.NewReader(string(res.data))), nil
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: importPaths,
			Accessor:    accessor,
		}),
		SourceInfoMode: protocompile.SourceInfoNone,
	}
	type result struct {
		files []protoreflect.FileDescriptor
		err   error
	}
	done := make(chan result, 1)
	go func() {
		fs, err := c.Compile(ctx, protoFiles...)
		out := make([]protoreflect.FileDescriptor, 0, len(fs))
		for _, f := range fs {
			out = append(out, f)
		}
		done <- result{out, err}
	}()
	for {
		select {
		case r := <-reqs:
			data, err := read(r.name)
			r.reply <- readResult{data, err}
		case res := <-done:
			return res.files, res.err
		}
	}
}

type readResult struct {
	data []byte
	err  error
}

// notFound marks a failed read as "no such file", so protocompile tries
// the next import path and reports a missing import clearly.
func notFound(name string, err error) error {
	return fmt.Errorf("%s: %w (%v)", name, fs.ErrNotExist, err)
}

// protoset decodes a FileDescriptorSet (protoc --descriptor_set_out
// --include_imports) into file descriptors.
func protoset(data []byte) ([]protoreflect.FileDescriptor, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a FileDescriptorSet: %w", err)
	}
	return fileProtos(set.File)
}

// fileProtos links descriptor protos (in any order) into file descriptors.
func fileProtos(fds []*descriptorpb.FileDescriptorProto) ([]protoreflect.FileDescriptor, error) {
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: fds})
	if err != nil {
		return nil, err
	}
	var out []protoreflect.FileDescriptor
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		out = append(out, fd)
		return true
	})
	return out, nil
}

// reflect asks the server's reflection service (grpc.reflection.v1) for its
// services and the files defining them, with their dependencies. It is
// written here because it is a few calls on grpc-go's own reflection stubs;
// a client library for it would add a dependency for little.
func reflect(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) ([]protoreflect.FileDescriptor, error) {
	stream, err := reflectpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	defer func() { _ = stream.CloseSend() }()
	ask := func(req *reflectpb.ServerReflectionRequest) (*reflectpb.ServerReflectionResponse, error) {
		if err := stream.Send(req); err != nil {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return nil, fmt.Errorf("code %d: %s", e.ErrorCode, e.ErrorMessage)
		}
		return resp, nil
	}
	resp, err := ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, fmt.Errorf("reflection: list services: %w", err)
	}
	seen := map[string]*descriptorpb.FileDescriptorProto{}
	addFiles := func(raw [][]byte) ([]string, error) {
		var deps []string
		for _, b := range raw {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(b, fd); err != nil {
				return nil, err
			}
			if _, ok := seen[fd.GetName()]; ok {
				continue
			}
			seen[fd.GetName()] = fd
			deps = append(deps, fd.Dependency...)
		}
		return deps, nil
	}
	var pending []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		r, err := ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc.Name}})
		if err != nil {
			return nil, fmt.Errorf("reflection: file of %s: %w", svc.Name, err)
		}
		deps, err := addFiles(r.GetFileDescriptorResponse().GetFileDescriptorProto())
		if err != nil {
			return nil, fmt.Errorf("reflection: %w", err)
		}
		pending = append(pending, deps...)
	}
	// Dependencies the server did not send along (bounded: each name once).
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		if _, ok := seen[name]; ok {
			continue
		}
		if fd, err := protoregistry.GlobalFiles.FindFileByPath(name); err == nil {
			seen[name] = protodesc.ToFileDescriptorProto(fd) // well-known types
			continue
		}
		r, err := ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileByFilename{FileByFilename: name}})
		if err != nil {
			return nil, fmt.Errorf("reflection: file %s: %w", name, err)
		}
		deps, err := addFiles(r.GetFileDescriptorResponse().GetFileDescriptorProto())
		if err != nil {
			return nil, fmt.Errorf("reflection: %w", err)
		}
		pending = append(pending, deps...)
	}
	fds := make([]*descriptorpb.FileDescriptorProto, 0, len(seen))
	for _, fd := range seen {
		fds = append(fds, fd)
	}
	files, err := fileProtos(fds)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	return files, nil
}

var errNotConnected = errors.New("not connected: call client.connect() first")
