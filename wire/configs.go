package wire

import (
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/config"
)

func handleDescribeConfigs(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	b := rc.s.b
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		want := func(name string) bool {
			if rr.ConfigNames == nil {
				return true
			}
			for _, n := range rr.ConfigNames {
				if n == name {
					return true
				}
			}
			return false
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.Metadata().Topics[rr.ResourceName]
			if t == nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, e := range b.Settings().ResolveTopic(t.Configs) {
				if !want(e.Name) {
					continue
				}
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				c.Name, c.Value = e.Name, strp(e.Value)
				c.Source = kmsg.ConfigSource(e.Source)
				c.IsDefault = e.Source == config.SourceDefault
				c.ConfigType = kmsg.ConfigType(e.Kind.KafkaType())
				if req.IncludeDocumentation && e.Doc != "" {
					c.Documentation = strp(e.Doc)
				}
				if req.IncludeSynonyms {
					for _, s := range e.Synonyms {
						c.ConfigSynonyms = append(c.ConfigSynonyms, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{
							Name: s.Name, Value: strp(s.Value), Source: kmsg.ConfigSource(s.Source)})
					}
				}
				sr.Configs = append(sr.Configs, c)
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != itoa(int64(b.NodeID())) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = strp("not this broker")
				break
			}
			all := b.Settings().All()
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if !want(n) {
					continue
				}
				e := all[n]
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				c.Name, c.Value, c.ReadOnly = n, strp(e.Value), true
				c.Source = kmsg.ConfigSource(e.Source)
				c.IsDefault = e.Source == config.SourceDefault
				sr.Configs = append(sr.Configs, c)
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = strp("unsupported resource type")
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

func handleAlterConfigs(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
			err = &actors.Error{Code: kerr.InvalidRequest.Code, Message: "only topic configs can be altered"}
		} else {
			set := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value != nil {
					set[c.Name] = *c.Value
				}
			}
			err = rc.s.b.AlterTopicConfigs(ctx, rr.ResourceName, true, set, nil, req.ValidateOnly)
		}
		sr.ErrorCode = actors.ErrorCode(err)
		sr.ErrorMessage = errMsg(err, sr.ErrorCode)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func handleIncrementalAlterConfigs(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	b := rc.s.b
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
			err = &actors.Error{Code: kerr.InvalidRequest.Code, Message: "only topic configs can be altered"}
		} else if t := b.Metadata().Topics[rr.ResourceName]; t == nil {
			err = &actors.Error{Code: kerr.UnknownTopicOrPartition.Code}
		} else {
			set := map[string]string{}
			var del []string
			for _, c := range rr.Configs {
				val := ""
				if c.Value != nil {
					val = *c.Value
				}
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					set[c.Name] = val
				case kmsg.IncrementalAlterConfigOpDelete:
					del = append(del, c.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					// List configs: start from the effective value.
					cur := b.Settings().TopicValue(t.Configs, c.Name)
					if v, ok := set[c.Name]; ok {
						cur = v
					}
					set[c.Name] = editList(cur, val, c.Op == kmsg.IncrementalAlterConfigOpAppend)
				default:
					err = &actors.Error{Code: kerr.InvalidRequest.Code, Message: "unknown config operation"}
				}
			}
			if err == nil {
				err = b.AlterTopicConfigs(ctx, rr.ResourceName, false, set, del, req.ValidateOnly)
			}
		}
		sr.ErrorCode = actors.ErrorCode(err)
		sr.ErrorMessage = errMsg(err, sr.ErrorCode)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// editList appends or removes the comma-separated items of val in cur.
func editList(cur, val string, add bool) string {
	var items []string
	have := map[string]bool{}
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" && !have[s] {
			items = append(items, s)
			have[s] = true
		}
	}
	for _, s := range strings.Split(val, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if add && !have[s] {
			items = append(items, s)
			have[s] = true
		} else if !add && have[s] {
			for i, it := range items {
				if it == s {
					items = append(items[:i], items[i+1:]...)
					break
				}
			}
			delete(have, s)
		}
	}
	return strings.Join(items, ",")
}
