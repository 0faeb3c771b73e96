package redisstore

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// script returns the Lua script lua/<name>.lua with the shared prelude
// before it. Script.Run sends EVALSHA and falls back to EVAL (which loads
// the script) when Redis answers NOSCRIPT, as after a restart.
func script(name string) *redis.Script {
	prelude, err := luaFiles.ReadFile("lua/prelude.lua")
	if err != nil {
		panic(err) // embedded at build time
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(prelude) + "\n" + string(body))
}

// The zone scripts, one per Store operation, and the batch of visitor
// operations.
var (
	scriptPutZone   = script("putzone")
	scriptZone      = script("zone")
	scriptRegister  = script("register")
	scriptPosition  = script("position")
	scriptHeartbeat = script("heartbeat")
	scriptEnter     = script("enter")
	scriptExchange  = script("exchange")
	scriptClaim     = script("claim")
	scriptRelease   = script("release")
	scriptStats     = script("stats")
	scriptReadFeed  = script("readfeed")
	scriptBatch     = script("batch")
	scriptAdmit     = script("admit")
	scriptHead      = script("head")
)
